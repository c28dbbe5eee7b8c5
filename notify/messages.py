"""What people read: Slack Block Kit messages and e-mail text, built from ledger bodies.

Text from feedback (quotes, labels, account names) goes into Slack as mrkdwn with its control
characters escaped (&, <, >), so a quote cannot ping @channel or forge a link.
"""

from __future__ import annotations

from typing import Any

SLACK_TEXT_LIMIT = 2900  # a section's text may hold 3,000 characters


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def money(v: float | None) -> str:
    if not v:
        return "0"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= size:
            return f"{v / size:.1f}{unit}"
    return f"{v:,.0f}"


def _mix(mix: dict[str, int]) -> str:
    return ", ".join(f"{seg} {n}" for seg, n in mix.items()) or "no segment known"


def alert_lines(body: dict[str, Any]) -> tuple[str, list[str]]:
    """(title, detail lines) of one alert body, plain text."""
    label = f"#{body['theme_id']} {body['label']}"
    if body["kind"] == "emerging":
        title = f"Emerging theme: {label}" + (" (new)" if body.get("is_new") else "")
        lines = [
            f"{body['accounts']} accounts, ARR {money(body['arr'])}, open pipeline "
            f"{money(body['pipeline'])}",
            f"Segments: {_mix(body.get('segment_mix') or {})}",
            body.get("evidence") or "",
        ]
    else:
        title = (f"Deal {body['opportunity_name'] or body['opportunity_id']} "
                 f"({money(body['amount'])}) cites {label}")
        lines = [
            f"Account: {body.get('account_name') or body.get('account_id') or 'unknown'}"
            + (f", closes {body['close_date']}" if body.get("close_date") else ""),
            f"{body['other_accounts']} other accounts ask for it (ARR "
            f"{money(body['other_accounts_arr'])}); segments: "
            f"{', '.join(body.get('other_segments') or []) or '-'}",
        ]
    if body.get("quote"):
        lines.append(f"“{body['quote']}”")
    return title, [x for x in lines if x]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SLACK_TEXT_LIMIT]}}


def slack_alerts(bodies: list[dict[str, Any]], heading: str | None = None) -> dict[str, Any]:
    """One Block Kit message for one alert, or a digest of several (with a heading)."""
    blocks: list[dict[str, Any]] = []
    if heading:
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": heading[:150]}})
    for body in bodies[:45]:  # Slack takes at most 50 blocks
        title, lines = alert_lines(body)
        detail = "\n".join(slack_escape(x) for x in lines)
        blocks.append(_section(f"*{slack_escape(title)}*\n{detail}"))
    if len(bodies) > 45:
        blocks.append(_section(f"... and {len(bodies) - 45} more (`trendmine alerts status`)"))
    first = alert_lines(bodies[0])[0] if len(bodies) == 1 else heading or "trendmine alerts"
    # text: what the notification shows (Slack's fallback for the blocks)
    return {"text": slack_escape(first), "blocks": blocks}


def mail_alerts(bodies: list[dict[str, Any]], heading: str | None = None) -> tuple[str, str]:
    """(subject, text) of an alert mail or a digest."""
    parts = []
    for body in bodies:
        title, lines = alert_lines(body)
        parts.append("\n".join([title, *(f"  {x}" for x in lines)]))
    subject = heading or alert_lines(bodies[0])[0]
    return f"[trendmine] {subject}", "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------------------- owners


VERBS = {"shipped": "has shipped", "planned": "is planned", "declined": "was declined"}


def owner_lines(told: dict[str, Any]) -> tuple[str, list[str]]:
    """(subject, lines) telling an owner of a decision on a theme their accounts asked for."""
    subject = f"{told['label']} {VERBS.get(told['decision'], told['decision'])}"
    lines = [f"Theme #{told['theme_id']} {told['label']}: {told['decision']}"
             + (f" (by {told['decided_by']})" if told.get("decided_by") else "")]
    if told.get("note"):
        lines.append(f"Note: {told['note']}")
    for acct in told["accounts"]:
        lines.append("")
        lines.append(f"{acct['name'] or acct['account_id']} asked:")
        lines.extend([f"  “{q}”" for q in acct["quotes"]] or ["  (no quote kept)"])
    return subject, lines


OPT_OUT = ("You get this because you own accounts that asked for it. To stop these messages, "
           "ask your PM to run `trendmine alerts opt-out {owner}`.")


def slack_owner(told: dict[str, Any], owner: str) -> dict[str, Any]:
    subject, lines = owner_lines(told)
    body = "\n".join(slack_escape(x) for x in lines[1:])
    return {"text": slack_escape(subject), "blocks": [
        _section(f"*{slack_escape(lines[0])}*\n{body}"),
        {"type": "context", "elements": [
            {"type": "mrkdwn", "text": slack_escape(OPT_OUT.format(owner=owner))}]},
    ]}


def mail_owner(told: dict[str, Any], owner: str) -> tuple[str, str]:
    subject, lines = owner_lines(told)
    return f"[trendmine] {subject}", "\n".join([*lines, "", "--", OPT_OUT.format(owner=owner)])
