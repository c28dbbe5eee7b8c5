"""Canny posts: POST /api/v1/posts/list ({"posts": [...], "hasMore"}), posts/retrieve (one
post), or JSON Lines of posts. Votes are the post's `score`. The account comes from
post.company when present, else the first of the author's `companies` (Canny returns them
for users identified with company data).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from ingest.connectors._base import (
    Head,
    Item,
    Parsed,
    RecordError,
    account_ref,
    clean_str,
    compact,
    iso,
    map_json_records,
    parse_number,
    parse_timestamp,
)
from ingest.normalise import normalise_text

VENDOR = "canny"
LIST_KEYS = ("posts",)


def _is_post(obj: dict[str, Any]) -> bool:
    return "id" in obj and "title" in obj and ("board" in obj or "score" in obj)


def _company(post: dict[str, Any]) -> dict[str, Any] | None:
    company = post.get("company")
    if isinstance(company, dict):
        return company
    if clean_str(company):
        return {"id": company}
    for who in ("author", "by"):
        companies = (post.get(who) or {}).get("companies") or []
        if companies and isinstance(companies[0], dict):
            return companies[0]
    return None


def _name(value: Any) -> str | None:
    return clean_str(value.get("name")) if isinstance(value, dict) else clean_str(value)


def _post(post: dict[str, Any]) -> Parsed:
    post_id = clean_str(post.get("id"))
    if post_id is None:
        raise RecordError("post has no id")
    title = normalise_text(post.get("title") or "")
    details = normalise_text(post.get("details") or "")
    text = "\n\n".join(p for p in (title, details) if p)
    if not text:
        raise RecordError(f"post {post_id} has neither title nor details")
    created = parse_timestamp(post.get("created"), "created")
    if created is None:
        raise RecordError(f"post {post_id} has no created date")
    score = parse_number(post.get("score"), "score")
    company = _company(post) or {}
    company_id = clean_str(company.get("id"))
    author = post.get("author") or {}
    return Parsed(company_id, compact({
        "source": "ideas",
        "source_id": f"canny:{post_id}",
        # Canny's company id is the one your identify call gave it: matched at ingest.
        "account_ref": account_ref(VENDOR, company_id, company.get("name")),
        "author_email": clean_str(author.get("email")),
        "text": text,
        "created_at": iso(created),
        "author": clean_str(author.get("name")),
        "votes": max(int(score), 0) if score is not None else None,
        "url": clean_str(post.get("url")),
        "metadata": {
            "vendor": VENDOR,
            "board": _name(post.get("board")),
            "status": post.get("status"),
            "category": _name(post.get("category")),
            "tags": [_name(t) for t in post.get("tags") or []] or None,
            "comment_count": post.get("commentCount"),
            "eta": post.get("eta"),
            "company_name": clean_str(company.get("name")),
            "company_monthly_spend": company.get("monthlySpend"),
            "created_by_admin": _name(post.get("by")),
        },
    }))


def parse(target: str, stream: IO[bytes]) -> Iterator[Item]:
    yield from map_json_records(stream, LIST_KEYS, "Canny", _is_post, _post, "Canny post")


def sniff(head: Head) -> bool:
    if head.kind == "json":
        return '"posts"' in head.text or ('"board"' in head.text and '"score"' in head.text)
    if head.kind == "jsonl":
        return {"title", "board"} <= head.first_keys or {"title", "score"} <= head.first_keys
    return False
