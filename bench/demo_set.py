"""A labelled CSV from the demo world, a second set for `trendmine eval` besides CLINC150.

    python bench/demo_set.py --out demo-set.csv [--feedback 8000] [--seed 7]
    python -m trendmine eval --dataset demo-set.csv --compare bertopic

Support tickets (subject + body) and idea-portal posts (title + details) of the generated B2B
SaaS world, each labelled with the theme the generator planted (`noise` for off-topic ones,
like CLINC150's `oos`). Longer, messier texts than CLINC150's one-line requests; records that
raise two themes are left out, since one label could not be right for them.
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demoworld import generate_world
from demoworld.texts import IdeaText, TicketText


def text_of(content: TicketText | IdeaText) -> str:
    if isinstance(content, TicketText):
        return f"{content.subject}. {content.body}"
    return f"{content.title}. {content.details}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--feedback", type=int, default=8000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    world = generate_world(seed=args.seed, n_feedback=args.feedback,
                           end=datetime(2026, 6, 1, tzinfo=UTC))
    rows = [(text_of(r.content), r.themes[0])
            for source in ("support_tickets", "ideas") for r in world.feedback[source]
            if len(r.themes) == 1 and isinstance(r.content, TicketText | IdeaText)]
    with args.out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "intent"])
        w.writerows(rows)
    print(f"{len(rows)} texts, {len({label for _, label in rows})} labels -> {args.out}")


if __name__ == "__main__":
    main()
