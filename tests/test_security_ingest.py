"""Security of what ingest stores and what the report renders from it (issue 25): links,
the report's Content-Security-Policy, control characters, dead-letter reasons, the record
limits on the direct path, and the producer's oversized records."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.direct import store_files
from ingest.urls import web_url
from report.html import write_report
from report.markup import safe_href
from warehouse.trends import rebuild_trends

T0 = datetime(2024, 6, 10, 9, tzinfo=UTC)


def _jsonl(path: Path, lines: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def _ticket(i: int, **over) -> dict:
    e = {"source": "support_tickets", "source_id": f"sec:{i}", "account_id": f"A-{i}",
         "text": f"Ticket {i}: the SAML login fails", "created_at": (T0 + timedelta(hours=i))
         .isoformat()}
    e.update(over)
    return e


# ---------------------------------------------------------------------------- links


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", " JavaScript:alert(1)", "\x01javascript:alert(1)",
    "java\tscript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,<script>x</script>",
    "vbscript:msgbox(1)", "file:///etc/passwd", "//evil.example/x", "https://", "http:/x",
    "https://ex ample.com", "https://example.com/\x1b]8;;x", "", None,
])
def test_only_http_urls_are_links(url):
    assert web_url(url) is None and safe_href(url) is None


def test_http_urls_stay_and_are_escaped_in_the_href():
    assert web_url(" HTTPS://help.acme.example/t/1 ") == "HTTPS://help.acme.example/t/1"
    assert safe_href('https://x.example/?a=1&b="2"') == "https://x.example/?a=1&amp;b=&quot;2&quot;"


def _theme_every_record(db) -> int:
    """One theme holding every stored record (one snippet each), as mining would."""
    theme = db.execute("INSERT INTO trendmine.themes (label, keywords, quotes, status) "
                       "VALUES ('SAML login', '{saml}', '[]', 'active') RETURNING theme_id"
                       ).fetchone()[0]
    for (fid, text) in db.execute("SELECT feedback_id, text FROM trendmine.feedback").fetchall():
        db.execute("INSERT INTO trendmine.feedback_snippet (feedback_id, ord, text, text_hash) "
                   "VALUES (%s, 0, %s, %s)", (fid, text, f"h{fid}"))
        db.execute("INSERT INTO trendmine.feedback_theme (feedback_id, ord, theme_id, "
                   "similarity, method) VALUES (%s, 0, %s, 0.9, 'cluster')", (fid, theme))
    return theme


def test_a_javascript_url_never_becomes_a_link_and_the_csp_allows_only_the_report_script(
        settings, db, tmp_path):
    tickets = [_ticket(1, url=" JavaScript:alert(1)"),
               _ticket(2, url="https://help.acme.example/t/2"),
               _ticket(3, url="\x0ejavascript:alert(3)")]
    counts = store_files(settings, {"support_tickets": [_jsonl(tmp_path / "t.jsonl", tickets)]})
    assert counts.feedback == 3 and not counts.rejected  # the record is kept, its url dropped
    urls = dict(db.execute("SELECT source_id, url FROM trendmine.feedback").fetchall())
    assert urls == {"sec:1": None, "sec:2": "https://help.acme.example/t/2", "sec:3": None}
    # a row stored before ingest checked urls (or by another tool): the render checks again
    db.execute("INSERT INTO trendmine.feedback (source, source_id, account_id, text, text_hash, "
               "created_at, url) VALUES ('support_tickets', 'sec:old', 'A-9', 'old SAML login "
               "ticket', 'hold', %s, ' javascript:alert(9)')", (T0,))
    _theme_every_record(db)
    rebuild_trends(db, settings)
    html = write_report(db, tmp_path / "report.html", settings).read_text(encoding="utf-8")

    hrefs = re.findall(r'href="([^"]*)"', html) + re.findall(r"href='([^']*)'", html)
    assert "https://help.acme.example/t/2" in hrefs  # the good link is there
    assert not [h for h in hrefs if not (h.startswith(("#", "https://", "http://")))], hrefs
    assert "javascript:" not in html.lower()

    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert policy, "the report has no CSP"
    assert "default-src 'none'" in policy.group(1)
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(scripts) == 1 and "<script " not in html
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy.group(1)
    assert html.index("Content-Security-Policy") < html.index("<script>")


# ---------------------------------------------------------------------------- record limits


def test_the_direct_path_enforces_the_configured_record_limits(settings, db, tmp_path):
    settings.max_record_bytes, settings.max_metadata_keys = 600, 3
    tickets = [_ticket(1), _ticket(2, text="SAML " * 200),  # ~1 kB: over the record limit
               _ticket(3, metadata={f"k{i}": i for i in range(5)})]  # over the key limit
    counts = store_files(settings, {"support_tickets": [_jsonl(tmp_path / "t.jsonl", tickets)]})
    assert dict(counts.rejected) == {"record_too_large": 1, "metadata_too_large": 1}
    assert [r[0] for r in db.execute("SELECT source_id FROM trendmine.feedback")] == ["sec:1"]


# ---------------------------------------------------------------------------- dead letters

PII = "call jane.doe@acme.com or +1 415 555 0123"


def test_dead_letter_reasons_name_the_field_and_type_but_never_quote_pii(settings, db):
    from tests.test_ingest import drain, event, put

    put(settings, "support_tickets", [
        event(1, votes=PII),  # wrongly typed: invalid_field
        event(2, created_at=PII),  # bad_timestamp quotes the value, redacted
        event(3, source=PII),  # unknown_source likewise
    ])
    stats = drain(settings)
    assert stats.rejected == 3
    reasons = dict(db.execute("SELECT error_code, reason FROM trends.dead_letters").fetchall())
    assert set(reasons) == {"invalid_field", "bad_timestamp", "unknown_source"}
    for reason in reasons.values():
        assert "jane" not in reason and "acme" not in reason and "555" not in reason, reason
    assert reasons["invalid_field"].startswith("votes: Input should be a valid integer")
    assert "got a string of 41 characters" in reasons["invalid_field"]
    assert "[EMAIL]" in reasons["bad_timestamp"] and "[PHONE]" in reasons["bad_timestamp"]


# ---------------------------------------------------------------------------- produce


def test_produce_dead_letters_an_oversized_record_and_publishes_the_rest(settings, db, tmp_path):
    from ingest.producer import publish_files
    from tests.test_ingest import drain, event

    f = tmp_path / "t.jsonl"
    f.write_text("\n".join(json.dumps(e) for e in [
        event(1), event(2, text="SSO " * 2_500_000), event(3)]) + "\n")  # record 2: 10 MB
    stats = publish_files(settings, "support_tickets", [str(f)])
    assert (stats.published, stats.rejected, stats.too_large) == (2, 1, 1)
    assert "1 of them too large" in stats.summary()
    (code, stage, reason), = db.execute(
        "SELECT error_code, stage, reason FROM trends.dead_letters").fetchall()
    assert (code, stage) == ("record_too_large", "produce")
    assert re.match(r"t\.jsonl: record 2 has 100\d{5} bytes as JSON, over the limit of 1000000 "
                    r"\(TRENDMINE_MAX_RECORD_BYTES\)", reason), reason
    assert drain(settings).stored == 2


# ---------------------------------------------------------------------------- every field


def test_every_stored_field_is_redacted_alike_and_has_no_control_characters(
        settings, db, tmp_path):
    gaps = ("jane&#64;acme.com, 030 90182077, iban de89 3704 0044 0532 0130 00, "
            "card 4111\u00a01111\u00a01111\u00a01111, db_password=Tr0ub4dor&3, "
            "jane dot doe at acme dot com")
    ticket = _ticket(
        1, text=f"SSO please. \x1b]52;c;aGk=\x07\x1b[31m {gaps}",
        author=f"Jane \x1b[2J {gaps}", url="https://ideas.acme.example/p?by=jane&#64;acme.com",
        metadata={"reporter\x1b": gaps, "tags": ["sso", "SMTP_PASS=hunter2"]})
    counts = store_files(settings, {"support_tickets": [_jsonl(tmp_path / "t.jsonl", [ticket])]})
    assert counts.feedback == 1
    text, author, url, metadata = db.execute(
        "SELECT text, author, url, metadata::text FROM trendmine.feedback").fetchone()
    redacted = "[EMAIL], [PHONE], iban [IBAN], card [CARD], db_password=[SECRET], [EMAIL]"
    assert text == f"SSO please. ]52;c;aGk=[31m {redacted}"
    assert author == f"Jane [2J {redacted}"
    assert url == "https://ideas.acme.example/p?by=[EMAIL]"
    assert json.loads(metadata) == {"reporter": redacted, "tags": ["sso", "SMTP_PASS=[SECRET]"]}
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text + author + url + metadata)


def test_an_opaque_record_id_in_a_link_survives_redaction_and_pii_around_it_does_not():
    from ingest.redact import redact_pii
    from ingest.urls import redact_url

    def redact(s: str) -> str:
        return redact_pii(s)[0]

    # a Luhn-valid 16-digit id names the call: redacting it broke the link (`call?id=[CARD]`)
    assert redact_url("https://app.gong.io/call?id=4539578763621486", redact) == \
        "https://app.gong.io/call?id=4539578763621486"
    out = redact_url("https://x.io/u/jane.doe@acme.com?card=4539578763621486&ticket_id=77"
                     "&password=hunter2#to=jane@acme.com", redact)
    assert "jane" not in out and "4539578763621486" not in out and "hunter2" not in out
    assert "ticket_id=77" in out
    assert "@" not in redact_url("https://x.io/p?id=jane@acme.com", redact)
