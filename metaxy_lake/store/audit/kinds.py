"""The kinds an audit names: where a sample stands, and why a field needs work.

String-valued, so the frames and the CLI's text and JSON spell them as before.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Where a sample stands in a feature (``explain``'s and ``sample_status``'s status)."""

    NEW = "new"
    """No live row, and it can be computed (from its upstream rows)."""
    STALE = "stale"
    """Its live row was computed from other inputs than the current ones."""
    ORPHANED = "orphaned"
    """Its live row's upstream sample has no live row any more."""
    UP_TO_DATE = "up_to_date"
    """Its live row is what the current inputs produce."""
    ABSENT = "absent"
    """No live row, and nothing to compute from (no upstream row either)."""


class CauseKind(StrEnum):
    """Why a sample is new, stale or orphaned (``explain``'s ``cause``)."""

    NO_ROW = "no_row"
    """The sample is new: it has no row."""
    CODE_VERSION = "code_version"
    """The field's code version changed (or, by elimination, nothing else differs)."""
    UPSTREAM_DATA = "upstream_data"
    """An upstream field's data version changed."""
    UPSTREAM_NEW = "upstream_new"
    """An optional upstream sample that had no row has one now."""
    UPSTREAM_DELETED = "upstream_deleted"
    """The upstream sample has no live row (the sample is orphaned, or lost an optional input)."""
    PREDICATE = "predicate"
    """A staleness predicate matched the sample's live row."""
