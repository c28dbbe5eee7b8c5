"""Kafka problems are visible and bounded, against the real embedded broker (plaintext, no
SASL), a silent TCP listener and a local TLS listener stand-in: every step fails in one
line, within the timeout, naming the step (TCP connect, TLS, SASL, Kafka handshake)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import sys
import threading
import time
from contextlib import contextmanager

import pytest
from pydantic import SecretStr

from foundation.errors import TrendmineError
from infra import doctor, stack
from infra.embedded import free_port
from ingest import kafka as k

TIMEOUT = 2.0


def _with(settings, **update):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"kafka_timeout_s": TIMEOUT, **update})


@contextmanager
def _timed(limit: float):  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    yield
    assert time.monotonic() - t0 < limit


@contextmanager
def _listener(tls_context: ssl.SSLContext | None = None):  # type: ignore[no-untyped-def]
    """Accepts connections (completing a TLS handshake when given a context), then says
    nothing: a broker that hangs."""
    srv = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            if tls_context is not None:
                try:
                    conn = tls_context.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    conn.close()
                    continue
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for c in held:
            c.close()
        srv.close()


def _self_signed(tmp_path):  # type: ignore[no-untyped-def]
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "broker.pem", tmp_path / "broker.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx, cert_file


def test_tls_client_on_a_plaintext_listener_fails_fast_in_one_line(settings):
    s = _with(settings, kafka_security_protocol="SSL")
    with _timed(TIMEOUT * 3), pytest.raises(k.KafkaStepFailed) as info:
        k.handshake(s)
    assert info.value.step == k.TLS and "plaintext listener?" in str(info.value)
    assert "\n" not in str(info.value)
    with _timed(TIMEOUT * 3):
        report = stack.status(s)  # hung for minutes before
    assert report.kafka_error and "TLS handshake" in report.kafka_error
    with _timed(TIMEOUT * 3):
        check = doctor.check_kafka(s)
    assert not check.ok and "TLS handshake failed" in check.detail and "PLAINTEXT" in check.fix


def test_sasl_against_a_listener_without_sasl_names_the_sasl_step(settings):
    s = _with(settings, kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN",
              kafka_sasl_username="u", kafka_sasl_password=SecretStr("hunter2-secret"))
    with _timed(TIMEOUT * 4), pytest.raises(k.KafkaStepFailed) as info:
        k.handshake(s)
    assert info.value.step == k.SASL
    assert "UnsupportedSaslMechanism" in str(info.value) and "hunter2" not in str(info.value)


def test_a_broker_that_never_answers_is_a_timeout_naming_the_step(settings):
    with _listener() as port:
        s = _with(settings, kafka_bootstrap=f"127.0.0.1:{port}")
        with _timed(TIMEOUT * 4), pytest.raises(k.KafkaStepFailed) as info:
            k.handshake(s)
        assert info.value.step == k.HANDSHAKE and f"within {TIMEOUT:g} s" in str(info.value)
        with _timed(TIMEOUT * 4):
            assert "Kafka handshake" in stack.status(s).kafka_error


def test_nothing_listening_is_the_tcp_step(settings):
    s = _with(settings, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    with _timed(TIMEOUT * 2), pytest.raises(k.KafkaStepFailed) as info:
        k.handshake(s)
    assert info.value.step == k.TCP


def test_tls_listener_stand_in_checks_the_certificate_then_the_kafka_step(settings, tmp_path):
    ctx, cert = _self_signed(tmp_path)
    with _listener(ctx) as port:
        base = _with(settings, kafka_bootstrap=f"localhost:{port}",
                     kafka_security_protocol="SSL")
        with pytest.raises(k.KafkaStepFailed) as info:
            k.check_reachable(base)
        assert info.value.step == k.TLS and "CERTIFICATE_VERIFY_FAILED" in str(info.value)
        trusted = base.model_copy(update={"kafka_ssl_cafile": cert})
        assert k.check_reachable(trusted) == ("localhost", port)  # TLS passes
        with _timed(TIMEOUT * 4), pytest.raises(k.KafkaStepFailed) as info:
            k.handshake(trusted)
        assert info.value.step == k.HANDSHAKE  # the next step is the one named


def test_oauthbearer_token_from_a_file_or_a_command(settings, tmp_path):
    token = tmp_path / "token"
    token.write_text("eyJ.token.sig\n")
    assert k.TokenProvider(file=token).token() == "eyJ.token.sig"
    cmd = f"{sys.executable} -c \"print('from-command')\""
    assert k.TokenProvider(command=cmd).token() == "from-command"
    with pytest.raises(TrendmineError, match="exited 3") as info:
        k.TokenProvider(command=f"{sys.executable} -c \"print('tok'); exit(3)\"").token()
    assert "tok" not in str(info.value).replace("TOKEN", "")
    with pytest.raises(TrendmineError, match="no token source"):
        k.TokenProvider()
    s = _with(settings, kafka_security_protocol="SASL_PLAINTEXT",
              kafka_sasl_mechanism="OAUTHBEARER", kafka_oauth_token_file=token)
    assert isinstance(k.client_config(s)["sasl_oauth_token_provider"], k.TokenProvider)
    with _timed(TIMEOUT * 4), pytest.raises(k.KafkaStepFailed) as info:
        k.handshake(s)  # the embedded broker has no SASL: named, not hung
    assert info.value.step == k.SASL
