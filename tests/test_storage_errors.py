"""Every public store operation turns a storage failure into ``StorageAccessError``.

The tables are written through a reachable S3 endpoint; the same store is then opened
with an endpoint where nothing listens. Each operation must fail promptly (a bounded
connect timeout and few retries), naming the store and the operation, on every format.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import narwhals as nw
import pytest
from helpers import root_rows
from s3server import free_ports

import metaxy_lake as mxl

pytestmark = pytest.mark.locations("s3")
PROMPT_S = 30


@pytest.fixture
def chain(graph: mxl.FeatureGraph):
    class Root(mxl.Feature, spec=mxl.FeatureSpec(key="root", fields=["a"])):
        pass

    class Leaf(mxl.Feature, spec=mxl.FeatureSpec(key="leaf", deps=[Root], fields=["a"])):
        pass

    return Root, Leaf


OPERATIONS: dict[str, Callable[[mxl.LakeStore, Any, Any], object]] = {
    "write": lambda s, root, leaf: s.write(root, root_rows({"s9": {"a": "9"}})),
    "read": lambda s, root, leaf: s.read(root).collect(),
    "history": lambda s, root, leaf: s.history(root),
    "delete": lambda s, root, leaf: s.delete(root, nw.col("sample_uid") == "s1"),
    "hard delete": lambda s, root, leaf: s.delete(root, nw.col("sample_uid") == "s1", soft=False),
    "compaction": lambda s, root, leaf: s.compact(root),
    "expiry": lambda s, root, leaf: s.expire(root),
    "resolve": lambda s, root, leaf: s.resolve_update(leaf),
    "graph push": lambda s, root, leaf: s.push_graph(git_commit=None),
    "graph history": lambda s, root, leaf: s.graph_history(),
    "snapshot load": lambda s, root, leaf: s.load_snapshot(),
}


FIRST = ("write", "read", "resolve", "graph push")
"""Run by default: a data table written, read and resolved, and the catalog; each
operation costs up to ~5 s of connection attempts, so the others run in the slow stage."""
REST = tuple(name for name in OPERATIONS if name not in FIRST)


@pytest.mark.parametrize(
    "names",
    [pytest.param(FIRST, id="first"), pytest.param(REST, id="rest", marks=pytest.mark.slow)],
)
def test_an_unreachable_endpoint_fails_promptly_naming_the_store(
    make_store, store_kwargs, chain, names
) -> None:
    root, leaf = chain
    make_store().write(root, root_rows({"s1": {"a": "1"}, "s2": {"a": "2"}}))
    make_store().push_graph(git_commit=None)  # the catalog's rows are on S3 too
    closed = f"http://127.0.0.1:{free_ports(1, start=41000)[0]}"
    options = {**store_kwargs["storage_options"], "endpoint_url": closed}
    store = make_store(storage_options=options)
    for operation in names:
        call = OPERATIONS[operation]
        start = time.monotonic()
        with pytest.raises(mxl.StorageAccessError) as err:
            call(store, root, leaf)
        took = time.monotonic() - start
        assert took < PROMPT_S, f"{operation} took {took:.1f} s"
        message = str(err.value)
        assert repr(store) in message and "127.0.0.1" in message, (operation, message)
        assert store_kwargs["storage_options"]["secret_access_key"] not in message
