"""Canny webhook confirmation: the post is read back from Canny's API before it is published.

Canny signs only the request's nonce (not the body, not the timestamp), so a captured header
set would let anyone post any body. The receiver therefore takes each nonce once
(`signatures.NonceCache`) and reads only the post id from the body: the post it publishes is
the one Canny's API returns for that id (POST /api/v1/posts/retrieve, with the same API key
as the pulls). A forged body can at most make trendmine re-read a real post.
"""

from __future__ import annotations

from typing import Any

import httpx

from foundation.config import Settings

RETRIEVE = "/api/v1/posts/retrieve"


class Unconfirmed(Exception):
    """Canny did not confirm the post: 401 (no such post) or 503 (Canny unreachable; the
    webhook is retried by Canny)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


async def retrieve_post(settings: Settings, post_id: str) -> dict[str, Any]:
    """The post as Canny's API has it now."""
    key = settings.canny_api_key.get_secret_value() if settings.canny_api_key else ""
    try:
        async with httpx.AsyncClient(base_url=settings.canny_url,
                                     timeout=settings.intake_read_timeout_s) as client:
            response = await client.post(RETRIEVE, json={"apiKey": key, "id": post_id})
    except httpx.HTTPError as exc:
        raise Unconfirmed(503, f"Canny API unreachable ({type(exc).__name__}); retry") from None
    if response.status_code == 429 or response.status_code >= 500:
        raise Unconfirmed(503, f"Canny API answered HTTP {response.status_code}; retry")
    if response.status_code >= 400:
        raise Unconfirmed(401, f"Canny has no post {post_id!r} (HTTP {response.status_code})")
    try:
        post = response.json()
    except ValueError:
        raise Unconfirmed(503, "Canny API answered a body that is not JSON; retry") from None
    if not isinstance(post, dict) or post.get("id") != post_id:
        raise Unconfirmed(401, f"Canny did not return post {post_id!r}")
    return post
