"""The demo's text catalogue, read once from the YAML files under ``demoworld/data/``.

    themes.yaml   the product's feature themes: sentence fragments per theme
    texts.yaml    slot values and the templates of each register (ticket, note, idea, call)
    people.yaml   word lists for fictional people and companies

Lists come back as tuples, so the catalogue cannot be changed by accident and reads like
the Python literals it replaced. The files ship as package data (pyproject.toml).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import yaml

# libyaml's parser when PyYAML was built with it (about 10x faster), else the pure-Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value


@cache
def load(name: str) -> dict[str, Any]:
    """The parsed contents of ``demoworld/data/<name>`` (cached: parsed once per process)."""
    text = files("demoworld").joinpath("data", name).read_text(encoding="utf-8")
    return _frozen(yaml.load(text, Loader=_LOADER))
