"""Write the JSON Schema files from the pydantic models: ``python -m schemas.export``."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.events import MODELS

JSONSCHEMA_DIR = Path(__file__).parent / "jsonschema"


def render() -> dict[str, str]:
    """File name -> JSON text, exactly as committed."""
    return {
        f"{name}.schema.json": json.dumps(model.model_json_schema(), indent=2, sort_keys=True)
        + "\n"
        for name, model in MODELS.items()
    }


def main() -> None:
    for fname, text in render().items():
        (JSONSCHEMA_DIR / fname).write_text(text)
        print(f"wrote {JSONSCHEMA_DIR / fname}")


if __name__ == "__main__":
    main()
