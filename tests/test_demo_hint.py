"""The demo's last hint names the Prefect port the settings give, not Prefect's default."""

from pathlib import Path

from trendmine.cli_flows import prefect_hint


def test_prefect_hint_names_the_configured_port():
    hint = prefect_hint(Path("/tmp/demo/prefect"), 4321)
    assert "--port 4321" in hint and "http://127.0.0.1:4321" in hint and "4200" not in hint
