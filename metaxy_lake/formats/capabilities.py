"""What a table format can do: each format declares the set of capabilities it has.

A missing capability is a declared gap: the operation raises ``UnsupportedOperationError``
(or, for ``COMPACTION_METADATA``, its commit carries no write id), and the behaviour suite
marks the tests that need it (``@pytest.mark.requires(Capability.X, raises=...)``).
"""

from __future__ import annotations

from enum import StrEnum


class Capability(StrEnum):
    """One thing a format may be able to do (its value names it in error messages)."""

    TIME_TRAVEL_BY_VERSION = "time_travel_by_version"
    TIME_TRAVEL_BY_TIMESTAMP = "time_travel_by_timestamp"
    HARD_DELETE = "hard_delete"
    SCHEMA_EVOLUTION = "schema_evolution"
    COMPACTION = "compaction"
    EXPIRY = "expiry"
    COMPACTION_METADATA = "compaction_metadata"
    """A compaction commit carries metaxy's commit metadata (write id...)."""


ALL_CAPABILITIES: frozenset[Capability] = frozenset(Capability)
"""Every capability: what a format declares when it has no gap."""
