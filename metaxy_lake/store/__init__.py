"""Stores: the user-facing facade over formats and the engine."""

from metaxy_lake.config.spec import StoreSpec
from metaxy_lake.store.lake_store import LakeStore
from metaxy_lake.store.opening import open_store
from metaxy_lake.store.resolve.scope import ResolveScope
from metaxy_lake.store.tables.commit import WriteResult

__all__ = ["LakeStore", "ResolveScope", "StoreSpec", "WriteResult", "open_store"]
