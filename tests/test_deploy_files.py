"""The deployment files a platform team would run: checked by parsing them (no container engine
runs in CI), against the settings module and the installed Prefect."""

from __future__ import annotations

import re

import pytest
import yaml

from foundation.config import Settings
from foundation.errors import TrendmineError

from .conftest import REPO

INFRA = REPO / "infra"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((INFRA / "compose.yaml").read_text())


def test_every_image_is_pinned(compose):
    for name, svc in compose["services"].items():
        image = svc.get("image")
        assert image, f"{name} has no image"
        tag = image.rsplit(":", 1)[-1] if ":" in image else ""
        assert tag and "latest" not in tag and re.search(r"\d", tag), f"{name}: {image} unpinned"


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


def test_no_credentials_in_committed_files(compose):
    text = (INFRA / "compose.yaml").read_text()
    assert "PASSWORD: trendmine" not in text
    assert not (INFRA / ".env").exists() or ".env" in (REPO / ".gitignore").read_text()
    worker = compose["services"]["worker"]
    assert worker["env_file"] == [".env"]


def test_env_example_names_real_settings():
    fields = {f"TRENDMINE_{n.upper()}" for n in Settings.model_fields}
    names = [
        line.split("=", 1)[0]
        for line in (INFRA / ".env.example").read_text().splitlines()
        if line.startswith("TRENDMINE_")
    ]
    assert names
    unknown = [n for n in names if n.removesuffix("_FILE") not in fields]
    assert not unknown, f".env.example names unknown settings: {unknown}"


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
