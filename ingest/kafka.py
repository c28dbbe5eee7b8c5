"""Kafka clients (kafka-python) with errors that say what to do, and topic administration.

Every call that can wait on a broker is bounded by TRENDMINE_KAFKA_TIMEOUT_S: kafka-python
itself waits for a TLS handshake forever (a TLS client on a plaintext listener hung `status`
for minutes), so the TCP connection and the TLS handshake are tried first, by hand, with a
timeout, and client construction and metadata calls run under a deadline that names the step.
kafka-python's own warnings and errors go to the log (foundation.logs sets the level).
"""

from __future__ import annotations

import logging
import shlex
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.net.sasl.oauth import AbstractTokenProvider

from foundation.config import Settings
from foundation.errors import ServiceUnavailable, TrendmineError
from schemas.names import ALL_TOPICS, COMPACTED_TOPICS

T = TypeVar("T")
TCP, TLS, SASL, HANDSHAKE, METADATA = (
    "TCP connect", "TLS handshake", "SASL authentication", "Kafka handshake", "metadata"
)


class KafkaStepFailed(ServiceUnavailable):
    """A broker call that failed or did not answer in time, with the step that did."""

    def __init__(self, step: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"Kafka {step} failed: {message}", hint)
        self.step = step


def _hint(settings: Settings, step: str) -> str:
    if step == TCP:
        return ("run `trendmine up` to start the embedded broker" if settings.embedded_kafka
                else "check TRENDMINE_KAFKA_BOOTSTRAP and that the brokers are up")
    if step == TLS:
        return ("check that the listener speaks TLS (else TRENDMINE_KAFKA_SECURITY_PROTOCOL="
                "PLAINTEXT or SASL_PLAINTEXT) and TRENDMINE_KAFKA_SSL_CAFILE")
    if step == SASL:
        return ("check TRENDMINE_KAFKA_SASL_MECHANISM and the credentials, and that the "
                "listener has SASL enabled")
    return "check the brokers' logs and TRENDMINE_KAFKA_SECURITY_PROTOCOL; `trendmine doctor`"


def _unreachable(settings: Settings, exc: Exception) -> ServiceUnavailable:
    return KafkaStepFailed(
        TCP, f"cannot reach a Kafka broker at {settings.bootstrap()} "
        f"({exc or type(exc).__name__})", _hint(settings, TCP),
    )


def _servers(settings: Settings) -> list[tuple[str, int]]:
    out = []
    for server in settings.bootstrap().split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            out.append((host.strip("[]") or "localhost", int(port)))
        except ValueError:
            continue
    return out


def _tls_context(settings: Settings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(
        cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    )
    if settings.kafka_ssl_certfile:
        ctx.load_cert_chain(
            str(settings.kafka_ssl_certfile),
            str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
        )
    return ctx


def _tls_handshake(settings: Settings, sock: socket.socket, host: str, port: int,
                   timeout: float) -> None:
    sock.settimeout(timeout)
    try:
        with _tls_context(settings).wrap_socket(sock, server_hostname=host):
            return
    except TimeoutError as exc:
        raise KafkaStepFailed(
            TLS, f"{host}:{port} sent no TLS answer within {timeout:g} s (a plaintext "
            "listener?)", _hint(settings, TLS)) from exc
    except (ssl.SSLError, ssl.CertificateError, OSError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
        plaintext = isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError) or (
            "WRONG_VERSION_NUMBER" in str(exc) or "EOF" in str(exc))
        raise KafkaStepFailed(
            TLS, f"{host}:{port}: {reason}" + (" (a plaintext listener?)" if plaintext else ""),
            _hint(settings, TLS)) from exc


def check_reachable(settings: Settings, timeout: float | None = None) -> tuple[str, int]:
    """Fail fast, naming the step (instead of kafka-python's long waits), when no bootstrap
    server accepts a TCP connection or, with SSL, completes a TLS handshake in time.
    Returns the server that answered."""
    timeout = timeout or min(settings.kafka_timeout_s, 5.0)
    servers = _servers(settings)
    last: Exception = ConnectionRefusedError("no bootstrap server answered")
    for host, port in servers:
        try:
            sock = socket.create_connection((host, port), timeout)
        except OSError as exc:
            last = exc
            continue
        try:
            if settings.kafka_security_protocol.endswith("SSL"):
                _tls_handshake(settings, sock, host, port, timeout)
        finally:
            sock.close()
        return host, port
    raise _unreachable(settings, last)


class _KafkaLogTail(logging.Handler):
    """The last warning or error kafka-python logged while a call ran (it retries a refused
    SASL handshake quietly until its own timeout, then says only "Unable to bootstrap")."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if record.levelno >= logging.ERROR or self.last is None:
            self.last = msg


def bounded(settings: Settings, step: str, call: Callable[[], T],
            timeout: float | None = None) -> T:
    """Run a kafka-python call with a deadline (in a daemon thread: a hung call is left
    behind, the caller is not); a failure or a timeout is a KafkaStepFailed naming `step`,
    with kafka-python's last complaint when it had one."""
    timeout = timeout or settings.kafka_timeout_s
    tail = _KafkaLogTail()
    kafka_log = logging.getLogger("kafka")
    kafka_log.addHandler(tail)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name=f"kafka-{step}", daemon=True)
    try:
        thread.start()
        thread.join(timeout)
    finally:
        kafka_log.removeHandler(tail)
    if thread.is_alive():
        raise KafkaStepFailed(step, f"no answer from {settings.bootstrap()} within "
                              f"{timeout:g} s" + (f" (last: {tail.last})" if tail.last else ""),
                              _hint(settings, step))
    if "error" in box:
        exc = box["error"]
        if not isinstance(exc, KafkaError | OSError):  # ours, or a bug: as it is
            raise exc
        detail = f"{type(exc).__name__}: {exc}"
        if tail.last and tail.last not in detail:
            detail += f" (last: {tail.last})"
        if step != METADATA and _is_sasl(detail):
            step = SASL
        raise KafkaStepFailed(step, f"{settings.bootstrap()}: {detail}",
                              _hint(settings, step)) from exc
    return box["value"]


def _is_sasl(text: str) -> bool:
    return any(w in text for w in ("Sasl", "SASL", "Authentication", "authentication"))


class TokenProvider(AbstractTokenProvider):
    """OAUTHBEARER tokens, read at each login from TRENDMINE_KAFKA_OAUTH_TOKEN_FILE or printed
    by TRENDMINE_KAFKA_OAUTH_TOKEN_COMMAND (so a refreshed token is picked up)."""

    def __init__(self, file: Path | None = None, command: str | None = None,
                 timeout: float = 30.0) -> None:
        super().__init__()
        if not (file or command):
            raise TrendmineError(
                "TRENDMINE_KAFKA_SASL_MECHANISM is OAUTHBEARER but no token source is set",
                "set TRENDMINE_KAFKA_OAUTH_TOKEN_FILE or TRENDMINE_KAFKA_OAUTH_TOKEN_COMMAND",
            )
        self.file, self.command, self.timeout = file, command, timeout

    def token(self) -> str:
        if self.file:
            try:
                token = Path(self.file).read_text().strip()
            except OSError as exc:
                raise TrendmineError(
                    f"TRENDMINE_KAFKA_OAUTH_TOKEN_FILE: cannot read {self.file} "
                    f"({exc.strerror})") from exc
        else:
            token = self._run()
        if not token:
            raise TrendmineError("the OAUTHBEARER token is empty",
                                 "check the token file or command")
        return token

    def _run(self) -> str:
        try:
            done = subprocess.run(shlex.split(self.command or ""), capture_output=True,
                                  text=True, timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TrendmineError(f"TRENDMINE_KAFKA_OAUTH_TOKEN_COMMAND failed: {exc}") from exc
        if done.returncode:
            # never echo its output: it may hold a token
            raise TrendmineError(
                f"TRENDMINE_KAFKA_OAUTH_TOKEN_COMMAND exited {done.returncode}",
                "run it by hand to see why")
        return done.stdout.strip()


def client_config(settings: Settings) -> dict[str, Any]:
    """TLS / SASL options and timeouts for every kafka-python client."""
    config = settings.kafka_client_config()
    if settings.kafka_sasl_mechanism == "OAUTHBEARER":
        config["sasl_oauth_token_provider"] = TokenProvider(
            settings.kafka_oauth_token_file, settings.kafka_oauth_token_command)
    config["bootstrap_timeout_ms"] = int(settings.kafka_timeout_s * 1000)
    return config


def _construct(settings: Settings, factory: Callable[[], T]) -> T:
    check_reachable(settings)
    return bounded(settings, SASL if settings.kafka_security_protocol.startswith("SASL")
                   else HANDSHAKE, factory)


def handshake(settings: Settings) -> list[str]:
    """An authenticated handshake, step by step (TCP connect, TLS with SSL, SASL or the Kafka
    handshake, metadata), each under TRENDMINE_KAFKA_TIMEOUT_S. Returns what passed; raises
    KafkaStepFailed naming the first step that failed."""
    host, port = check_reachable(settings)
    passed = [f"{TCP} {host}:{port}"]
    if settings.kafka_security_protocol.endswith("SSL"):
        passed.append(TLS)
    client = admin(settings)
    sasl = settings.kafka_security_protocol.startswith("SASL")
    passed.append(f"{SASL} ({settings.kafka_sasl_mechanism})" if sasl else HANDSHAKE)
    try:
        topics = bounded(settings, METADATA, client.list_topics)
    finally:
        client.close()
    passed.append(f"{METADATA} ({len(topics)} topics)")
    return passed


def admin(settings: Settings) -> KafkaAdminClient:
    return _construct(settings, lambda: KafkaAdminClient(
        bootstrap_servers=settings.bootstrap(),
        request_timeout_ms=int(settings.kafka_timeout_s * 1000),
        client_id="trendmine-admin",
        **client_config(settings),
    ))


def producer(settings: Settings, **overrides) -> KafkaProducer:
    config = {
        "bootstrap_servers": settings.bootstrap(),
        "client_id": "trendmine-producer",
        "acks": "all",
        "linger_ms": 20,
        "batch_size": 256 * 1024,
        "max_request_size": 8 * 1024 * 1024,
        "retries": 5,
        **client_config(settings),  # TLS / SASL and timeouts, the same for every client
    }
    config.update(overrides)
    return _construct(settings, lambda: KafkaProducer(**config))


def consumer(settings: Settings, *topics: str, group_id: str | None, **overrides) -> KafkaConsumer:
    """A consumer with manual commits; short session settings make group joins quick."""
    config = {
        "bootstrap_servers": settings.bootstrap(),
        "group_id": group_id,
        "client_id": "trendmine-consumer",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": 10000,
        "heartbeat_interval_ms": 1000,
        "max_poll_records": settings.batch_size,
        "max_poll_interval_ms": 600000,
        "fetch_max_bytes": 64 * 1024 * 1024,
        "max_partition_fetch_bytes": 16 * 1024 * 1024,
        **client_config(settings),  # TLS / SASL and timeouts, the same for every client
    }
    config.update(overrides)
    c = _construct(settings, lambda: KafkaConsumer(**config))
    if topics:
        c.subscribe(list(topics))
    return c


def topic_names(settings: Settings) -> list[str]:
    return [settings.topic(t) for t in ALL_TOPICS]


def create_topics(settings: Settings) -> list[str]:
    """Create every trendmine topic that is missing; returns the ones created."""
    client = admin(settings)
    timeout_ms = int(settings.kafka_timeout_s * 1000)
    try:
        existing = set(bounded(settings, METADATA, client.list_topics))
        wanted = []
        for base in ALL_TOPICS:
            name = settings.topic(base)
            if name in existing:
                continue
            configs = {"cleanup.policy": "compact"} if base in COMPACTED_TOPICS else {}
            wanted.append(
                NewTopic(
                    name,
                    settings.topic_partitions,
                    settings.topic_replication,
                    topic_configs=configs,
                )
            )
        created = []
        for topic in wanted:  # one at a time: a race with another creator is not an error
            try:
                bounded(settings, "topic creation",
                        lambda t=topic: client.create_topics([t], timeout_ms=timeout_ms))
                created.append(topic.name)
            except KafkaStepFailed as exc:
                if not isinstance(exc.__cause__, TopicAlreadyExistsError):
                    raise
        return created
    finally:
        client.close()


@dataclass(frozen=True)
class TopicOffsets:
    topic: str
    partitions: int
    end_offset: int
    committed: int | None  # summed over the partitions that have a commit
    lag_by_partition: dict[int, int] = field(default_factory=dict)

    @property
    def lag(self) -> int:
        """Records not yet consumed by the group; a partition it never committed on counts
        from its start (everything on it is still to read)."""
        return sum(self.lag_by_partition.values())


def topic_offsets(settings: Settings, group_id: str | None = None) -> list[TopicOffsets]:
    """End offsets, the group's committed offsets and its lag per topic, every call under
    TRENDMINE_KAFKA_TIMEOUT_S (the whole under three times that).

    On the embedded broker end offsets may be approximate (see docs/architecture.md); nothing
    that must be correct depends on them.
    """
    group_id = group_id or settings.topic(settings.consumer_group)
    c = consumer(settings, group_id=group_id)
    timeout_ms = int(settings.kafka_timeout_s * 1000)

    def read() -> list[TopicOffsets]:
        existing = c.topics()
        rows = []
        for name in topic_names(settings):
            if name not in existing:
                continue
            tps = [TopicPartition(name, p) for p in sorted(c.partitions_for_topic(name) or [])]
            ends = c.end_offsets(tps, timeout_ms=timeout_ms) if tps else {}
            starts = c.beginning_offsets(tps, timeout_ms=timeout_ms) if tps else {}
            committed = {tp: c.committed(tp, timeout_ms=timeout_ms) for tp in tps}
            known = [x for x in committed.values() if x is not None]
            lag = {
                tp.partition: max(ends.get(tp, 0) - (
                    committed[tp] if committed[tp] is not None else starts.get(tp, 0)), 0)
                for tp in tps
            }
            rows.append(TopicOffsets(
                name, len(tps), sum(ends.values()), sum(known) if known else None, lag,
            ))
        return rows

    try:
        return bounded(settings, METADATA, read, timeout=settings.kafka_timeout_s * 3)
    finally:
        c.close(timeout_ms=1000)
