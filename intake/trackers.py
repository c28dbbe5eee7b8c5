"""Jira and Linear issue webhooks -> one tracker event each on the trackers.issues topic.

The receiver checks the vendor's signature (intake.signatures), reads the issue's key and
state, and publishes a small canonical event, acks=all, before answering 202; notify.trackers
consumes the topic and moves the linked theme (planned when the issue starts, shipped when it
is done). Events about anything but an issue are answered 202 with `ignored`.

The event (JSON, keyed by "<tracker>:<key>" so one issue's changes stay in order):
  tracker (jira | linear), key, state (the tracker's status name), state_kind (unstarted |
  started | done | canceled), url, title, actor, at (ISO 8601, when the tracker sent it).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from kafka import KafkaProducer

from foundation.config import Settings
from intake.publish import PublishFailed, confirmed_producer, discard
from intake.webhooks import Malformed
from schemas.names import TRACKER_TOPIC

# Jira status categories (statusCategory.key) and Linear workflow state types
JIRA_KINDS = {"new": "unstarted", "indeterminate": "started", "done": "done"}
LINEAR_KINDS = {"triage": "unstarted", "backlog": "unstarted", "unstarted": "unstarted",
                "started": "started", "completed": "done", "canceled": "canceled"}


@dataclass
class TrackerEvent:
    tracker: str
    key: str
    state: str | None
    state_kind: str | None
    url: str | None
    title: str | None
    actor: str | None
    at: str

    def value(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False).encode()


def _doc(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise Malformed("body is not JSON") from None
    if not isinstance(doc, dict):
        raise Malformed("body is not a JSON object")
    return doc


def _at(ms: Any) -> str:
    when = datetime.fromtimestamp(ms / 1000, UTC) if isinstance(ms, int | float) else None
    return (when or datetime.now(UTC)).isoformat()


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def jira(body: bytes) -> TrackerEvent | None:
    """An issue event of a Jira webhook (jira:issue_created/updated); None for anything else."""
    doc = _doc(body)
    issue = doc.get("issue")
    if not isinstance(issue, dict) or not _str(issue.get("key")):
        return None
    fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
    status = fields.get("status") if isinstance(fields.get("status"), dict) else {}
    category = status.get("statusCategory") if isinstance(status.get("statusCategory"),
                                                          dict) else {}
    url = None
    if _str(issue.get("self")):
        parts = urlsplit(issue["self"])
        if parts.scheme in ("http", "https"):
            url = f"{parts.scheme}://{parts.netloc}/browse/{issue['key']}"
    user = doc.get("user") if isinstance(doc.get("user"), dict) else {}
    return TrackerEvent("jira", issue["key"], _str(status.get("name")),
                        JIRA_KINDS.get(category.get("key")), url, _str(fields.get("summary")),
                        _str(user.get("displayName")), _at(doc.get("timestamp")))


def linear(body: bytes) -> TrackerEvent | None:
    """An Issue event of a Linear webhook; None for comments, projects, ..."""
    doc = _doc(body)
    data = doc.get("data")
    if doc.get("type") != "Issue" or not isinstance(data, dict) or not _str(
            data.get("identifier")):
        return None
    state = data.get("state") if isinstance(data.get("state"), dict) else {}
    url = _str(data.get("url")) or _str(doc.get("url"))
    if url and urlsplit(url).scheme not in ("http", "https"):
        url = None
    actor = doc.get("actor") if isinstance(doc.get("actor"), dict) else {}
    return TrackerEvent("linear", data["identifier"], _str(state.get("name")),
                        LINEAR_KINDS.get(state.get("type")), url, _str(data.get("title")),
                        _str(actor.get("name")), _at(doc.get("webhookTimestamp")))


class TrackerPublisher:
    """One confirmed producer for tracker events (rare: a few per issue), made on first use
    and replaced after a failure; sends run on a worker thread, off the event loop."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._prod: KafkaProducer | None = None
        self._lock = asyncio.Lock()

    def _send(self, event: TrackerEvent) -> None:
        if self._prod is None:
            self._prod = confirmed_producer(self._settings)
        try:
            self._prod.send(self._settings.topic(TRACKER_TOPIC),
                            key=f"{event.tracker}:{event.key}".encode(),
                            value=event.value()).get(
                timeout=self._settings.intake_publish_timeout_s)
        except Exception as exc:
            prod, self._prod = self._prod, None
            discard(prod)
            raise PublishFailed(f"broker did not acknowledge the tracker event ({exc!r})") \
                from exc

    async def publish(self, event: TrackerEvent) -> None:
        async with self._lock:
            try:
                await asyncio.to_thread(self._send, event)
            except PublishFailed:
                raise
            except Exception as exc:  # no producer could be made: the broker is away
                raise PublishFailed(f"cannot connect a producer ({exc})") from exc

    async def close(self) -> None:
        if self._prod is not None:
            await asyncio.to_thread(discard, self._prod, 5)
