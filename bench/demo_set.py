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


# Need families over the world's 25 planted needs: the two-level truth that parent themes
# are measured against (bench/bench_needs.py); judged from the needs' names, not tuned.
FAMILIES = {
    "sso_saml": "access", "two_factor": "access", "rbac_permissions": "access",
    "audit_log": "compliance", "eu_data_residency": "compliance", "gdpr_deletion": "compliance",
    "salesforce_integration": "integrations", "jira_integration": "integrations",
    "shopify_integration": "integrations", "hubspot_integration": "integrations",
    "slack_notifications": "integrations",
    "api_rate_limits": "developer platform", "webhooks": "developer platform",
    "csv_export": "reporting", "reporting_pivot": "reporting",
    "dashboard_performance": "reporting",
    "mobile_app": "apps", "offline_mode": "apps", "dark_mode": "apps",
    "custom_fields": "data management", "bulk_edit": "data management",
    "search_quality": "data management",
    "pricing": "commercial", "billing_invoices": "commercial",
    "onboarding": "onboarding",
    "noise": "noise",
}


def labelled_rows(feedback: int = 8000, seed: int = 7) -> list[tuple[str, str]]:
    """(text, planted need) of the one-need tickets and idea posts of a generated world."""
    world = generate_world(seed=seed, n_feedback=feedback,
                           end=datetime(2026, 6, 1, tzinfo=UTC))
    return [(text_of(r.content), r.themes[0])
            for source in ("support_tickets", "ideas") for r in world.feedback[source]
            if len(r.themes) == 1 and isinstance(r.content, TicketText | IdeaText)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--feedback", type=int, default=8000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rows = labelled_rows(args.feedback, args.seed)
    with args.out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "intent"])
        w.writerows(rows)
    print(f"{len(rows)} texts, {len({label for _, label in rows})} labels -> {args.out}")


if __name__ == "__main__":
    main()
