"""Errors a user can meet: each says what went wrong and what to do about it."""

from __future__ import annotations


class TrendmineError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits non-zero."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ServiceUnavailable(TrendmineError):
    """Postgres or Kafka cannot be reached or lacks something trendmine needs."""
