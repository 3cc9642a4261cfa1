"""The entries of a fallback chain: a store, or a store pinned to a time (``store.pinned``).

A ``LakeStore`` is a ``ChainStore``; naming the protocol here, not the facade, keeps the
chain's entries below the facade (no import cycle through ``store/lake_store.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from metaxy_lake.config.spec import StoreSpec
from metaxy_lake.errors import StoreConfigError
from metaxy_lake.store.tables.context import StoreContext


@runtime_checkable
class ChainStore(Protocol):
    """What a fallback chain needs of a store: its spec and its context."""

    spec: StoreSpec

    def context(self) -> StoreContext:
        """The store seen from inside."""
        ...


@dataclass(frozen=True)
class PinnedStore:
    """A fallback store read as it was at one time (``LakeStore.pinned``).

    Attributes:
        store: The store.
        as_of: The time (aware, UTC) its tables are read as of.
    """

    store: ChainStore
    as_of: dt.datetime


def entry_context(entry: object) -> tuple[StoreContext, dt.datetime | None]:
    """A fallback entry's context and pin.

    Raises:
        StoreConfigError: The entry is neither a store nor a pinned store.
    """
    if isinstance(entry, PinnedStore):
        return entry.store.context(), entry.as_of
    if isinstance(entry, ChainStore):
        return entry.context(), None
    raise StoreConfigError(
        f"fallback entries are LakeStore objects or store.pinned(time), got {entry!r}"
    )


def entry_spec(entry: ChainStore | PinnedStore) -> tuple[StoreSpec, str | None]:
    """A fallback entry as a spec carries it: the store's spec and its pin (ISO 8601)."""
    entry_context(entry)  # refuses what is no store
    if isinstance(entry, PinnedStore):
        return entry.store.spec, entry.as_of.isoformat()
    return entry.spec, None
