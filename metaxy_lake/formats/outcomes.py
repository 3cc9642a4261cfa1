"""Telling "the commit may have landed" from "it failed" in a library's error.

A commit request that timed out or lost its connection after it was sent may have been
applied by the server: its outcome is unknown, and only the table's history can say.
A request the server never received (connection refused, unknown host) or refused
(credentials, permissions) failed: nothing happened.
"""

from __future__ import annotations

_SENT_THEN_LOST = (
    "timed out",
    "timeout",
    "connection reset",
    "connection closed",
    "connection aborted",
    "broken pipe",
    "incomplete message",
    "unexpected eof",
)
_NEVER_SENT = ("connection refused", "dns error", "name or service not known", "no route")


def transport_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says a request was sent and its answer lost (outcome unknown)."""
    text = str(exc).lower()
    return any(m in text for m in _SENT_THEN_LOST) and not any(m in text for m in _NEVER_SENT)
