"""Features, batch functions and a crashing sink for the Ray tests.

Ray tasks find the features by importing this module (features travel as their key and
module), so it is a module of its own, not a test file.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pyarrow as pa

import metaxy_lake as mxl
from metaxy_lake.ray import LakeDatasink


class Clip(mxl.Feature, spec=mxl.FeatureSpec(key="fanout/clip", fields=["frames", "audio"])):
    path: str
    scores: dict[str, float] | None = None


class Embedding(
    mxl.Feature,
    spec=mxl.FeatureSpec(
        key="fanout/embedding",
        deps=[Clip],
        fields=[mxl.FieldSpec("vector", deps=[mxl.FieldDep(Clip, ["frames"])])],
    ),
):
    dim: int


def embed(batch: pa.Table) -> pa.Table:
    """The "model": a column of the feature, added to the increment's rows."""
    return batch.append_column("dim", pa.array([512] * batch.num_rows, pa.int64()))


def embed_pandas(batch: Any) -> Any:
    batch["dim"] = 512
    return batch


def embed_numpy(batch: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    batch["dim"] = np.full(len(batch["sample_uid"]), 512, dtype=np.int64)
    return batch


def embed_but_break_shard(shard: int) -> Any:
    """A batch function whose rows of one shard carry a ``dim`` no write accepts."""

    def compute(batch: pa.Table) -> pa.Table:
        tags = batch.column("metaxy_batch").to_pylist()
        broken = any(f"/{shard}-" in t for t in tags)
        values = pa.array(["not a number"] * batch.num_rows) if broken else None
        if values is None:
            return embed(batch)
        return batch.append_column("dim", values)

    return compute


class CrashOnceSink(LakeDatasink):
    """A datasink whose worker dies right after its first commit landed (once per marker).

    Ray retries the task (its worker died), and the retry writes again under the same
    write id: the commit path finds it and writes nothing.
    """

    def __init__(self, store: Any, feature: Any, marker: Path, **kwargs: Any) -> None:
        super().__init__(store, feature, **kwargs)
        self._marker = str(marker)

    def write(self, blocks: Any, ctx: Any) -> dict[str, Any]:
        written = super().write(blocks, ctx)
        try:
            os.close(os.open(self._marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return written
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")
