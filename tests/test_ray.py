"""``metaxy_lake.ray`` on a real local Ray cluster (docs/design.md, Scale).

An increment read as a Ray Dataset of shards resolved in tasks, computed by a batch
function, and written back by ``LakeDatasink`` lands exactly once: also when Ray retries a
task whose worker died after its commit, and never half when a task's write fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from helpers import root_rows, string_map, table_state
from s3server import ADMIN

import metaxy_lake as mxl

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install '.[ray]'")

from ray_pipeline import (  # noqa: E402
    Clip,
    CrashOnceSink,
    Embedding,
    embed,
    embed_but_break_shard,
    embed_numpy,
    embed_pandas,
)

from metaxy_lake.ray import LakeDatasink, read_increment, run_increment  # noqa: E402

# one xdist worker runs the module, so one Ray cluster starts (the fixture is per module)
pytestmark = pytest.mark.xdist_group("ray")

SAMPLES = 100_000
KEY_VAR, SECRET_VAR = "MXL_RAY_TEST_KEY", "MXL_RAY_TEST_SECRET"


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    # the workers import the features' module, as on a cluster where the code is installed
    here = str(Path(__file__).parent)
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    # the S3 credentials of the tests' server, for stores whose options refer to them as
    # ${VAR}: a spec carries the reference, each worker expands it from its own environment
    credentials = {KEY_VAR: ADMIN[0], SECRET_VAR: ADMIN[1]}
    ray.init(
        runtime_env={"env_vars": {"PYTHONPATH": path, **credentials}},
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=300 * 1024 * 1024,
    )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()


def _clips(store: mxl.LakeStore, n: int, version: str = "1", scores: bool = False) -> None:
    uids = [f"c{i:06d}" for i in range(n)]
    frames = {u: {"frames": f"{u}-{version}", "audio": u} for u in uids}
    extra = {"scores": string_map([{"q": 0.5}] * n, pa.float64())} if scores else {}
    store.write(Clip, root_rows(frames, path=[f"/data/{u}.mp4" for u in uids], **extra))


def _stored(store: mxl.LakeStore) -> pl.DataFrame:
    """Every row ever written to Embedding (history included), as polars."""
    return store.read(Embedding, include_history=True).collect().to_polars()


@pytest.fixture
def clips(tmp_path: Path) -> mxl.LakeStore:
    store = mxl.LakeStore(tmp_path / "store")
    _clips(store, SAMPLES)
    return store


def test_an_increment_in_four_shard_tasks_lands_exactly_once(
    ray_cluster: None, clips: mxl.LakeStore
) -> None:
    expected = clips.resolve_update(Embedding, checkpoint=False).shard_counts(4)
    written = run_increment(clips.spec, Embedding, embed, shards=4)
    assert written == expected and sum(written) == SAMPLES
    rows = _stored(clips)
    assert rows.height == SAMPLES and rows["sample_uid"].n_unique() == SAMPLES
    assert set(rows["dim"].to_list()) == {512}
    assert clips.resolve_update(Embedding).is_empty


def test_a_task_retried_after_its_commit_landed_writes_nothing_twice(
    ray_cluster: None, clips: mxl.LakeStore, tmp_path: Path
) -> None:
    marker = tmp_path / "crashed"
    sink = CrashOnceSink(clips, Embedding, marker, rows_per_write=1)
    dataset = read_increment(clips, Embedding, shards=4)
    dataset.map_batches(embed, batch_format="pyarrow").write_datasink(sink)
    assert marker.exists()  # a worker died right after a commit, and Ray ran its task again
    rows = _stored(clips)
    assert rows.height == SAMPLES and rows["sample_uid"].n_unique() == SAMPLES
    commits = [c for c in clips.history(Embedding) if c.operation == "write"]
    assert sorted(c.write_id for c in commits) == sorted(set(sink.write_ids))
    assert sum(sink.rows_per_shard.values()) == SAMPLES
    assert clips.resolve_update(Embedding).is_empty


def test_a_write_that_always_fails_fails_the_job_and_lands_none_of_its_rows(
    ray_cluster: None, clips: mxl.LakeStore
) -> None:
    inc = clips.resolve_update(Embedding, checkpoint=False)
    broken = set(
        clips.resolve_update(Embedding, shard=(2, 4), checkpoint=False)
        .new.collect()
        .to_polars()["sample_uid"]
        .to_list()
    )
    assert inc.counts()["new"] == SAMPLES and broken
    with pytest.raises(mxl.ColumnTypeError, match="dim"):
        run_increment(clips, Embedding, embed_but_break_shard(2), shards=4, rows_per_write=1)
    landed = set(_stored(clips)["sample_uid"].to_list()) if clips.history(Embedding) else set()
    assert not landed & broken  # the failing task's commit is whole: none of its rows
    # the others' commits stand; running again computes the rest, exactly once
    assert sum(run_increment(clips, Embedding, embed, shards=4)) == SAMPLES - len(landed)
    rows = _stored(clips)
    assert rows.height == SAMPLES and rows["sample_uid"].n_unique() == SAMPLES


@pytest.mark.parametrize(
    ("fn", "batch_format"),
    [(embed_pandas, "pandas"), (embed_numpy, "numpy")],
    ids=["pandas", "numpy"],
)
def test_pandas_and_numpy_batches_come_back_with_their_maps(
    ray_cluster: None, tmp_path: Path, fn: Callable[[Any], Any], batch_format: str
) -> None:
    store = mxl.LakeStore(tmp_path / "store")
    _clips(store, 2_000, scores=True)  # a map of text to numbers rides along: the dep's column
    inc = store.resolve_update(Embedding, checkpoint=False).new.collect().to_polars()
    assert "scores" in inc.columns
    assert sum(run_increment(store, Embedding, fn, shards=2, batch_format=batch_format)) == 2_000
    stored = store.read(Embedding).collect().to_polars()
    columns = ["sample_uid", "metaxy_provenance", "metaxy_provenance_by_field"]
    assert stored.select(columns).sort("sample_uid").equals(inc.select(columns).sort("sample_uid"))
    assert store.resolve_update(Embedding).is_empty


def test_the_dataset_holds_new_and_stale_rows_with_their_status(
    ray_cluster: None, tmp_path: Path
) -> None:
    store = mxl.LakeStore(tmp_path / "store")
    _clips(store, 1_000)
    run_increment(store, Embedding, embed, shards=3)
    _clips(store, 300, version="2")  # new frames for 300 clips
    uids = [f"c{i:06d}" for i in range(1_000, 1_100)]
    store.write(Clip, root_rows({u: {"frames": u, "audio": u} for u in uids}, path=uids))

    dataset = read_increment(store, Embedding, shards=3)
    rows = pl.from_arrow(pa.concat_tables(ray.get(dataset.to_arrow_refs())))
    assert isinstance(rows, pl.DataFrame)
    assert rows.group_by("metaxy_status").len().sort("metaxy_status").rows() == [
        ("new", 100),
        ("stale", 300),
    ]
    stale = rows.filter(pl.col("metaxy_status") == "stale")
    assert stale["metaxy_changed_fields"].to_list() == [["vector"]] * 300
    only_stale = read_increment(store, Embedding, shards=2, kinds=("stale",))
    assert only_stale.count() == 300


def test_a_dev_store_over_prod_is_read_through_its_chain_in_tasks(
    ray_cluster: None, tmp_path: Path
) -> None:
    prod = mxl.LakeStore(tmp_path / "prod")
    _clips(prod, 1_000)
    run_increment(prod, Embedding, embed, shards=2)
    dev = mxl.LakeStore(tmp_path / "dev", fallback=[mxl.LakeStore(tmp_path / "prod")])
    _clips(dev, 10, version="dev")  # a developer changes ten clips' frames
    before = table_state(prod, Embedding)
    assert run_increment(dev, Embedding, embed, shards=2, kinds=("stale",)) != [0, 0]
    assert dev.read(Embedding).collect().to_polars().height == 1_000
    assert dev.resolve_update(Embedding).is_empty
    assert table_state(prod, Embedding) == before  # prod untouched
    assert _stored(mxl.LakeStore(tmp_path / "dev"))["sample_uid"].n_unique() == 10


def test_a_named_store_and_a_feature_key_from_the_configuration(
    ray_cluster: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "metaxy_lake.toml").write_text(
        'features = ["ray_pipeline"]\n[stores.main]\nroot = "./lake"\n'
    )
    monkeypatch.chdir(tmp_path)
    _clips(mxl.LakeStore(tmp_path / "lake"), 500)
    assert sum(run_increment("main", "fanout/embedding", embed, shards=2)) == 500
    assert mxl.LakeStore(tmp_path / "lake").resolve_update(Embedding).is_empty


@pytest.mark.locations("s3")
def test_shard_tasks_on_s3_land_exactly_once_on_every_format(
    ray_cluster: None, store_kwargs: dict[str, Any], location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VAR, ADMIN[0])
    monkeypatch.setenv(SECRET_VAR, ADMIN[1])
    references = {"access_key_id": f"${{{KEY_VAR}}}", "secret_access_key": f"${{{SECRET_VAR}}}"}
    options = {**store_kwargs["storage_options"], **references}
    config = {**store_kwargs, "storage_options": options}  # root, format (Iceberg's catalog)
    store = mxl.LakeStore.from_spec(mxl.StoreSpec.of(config))
    _clips(store, 5_000)
    assert sum(run_increment(config, Embedding, embed, shards=3, rows_per_write=1)) == 5_000
    rows = _stored(store)
    assert rows.height == 5_000 and rows["sample_uid"].n_unique() == 5_000
    assert store.resolve_update(Embedding).is_empty


def test_bad_input_is_refused_before_any_task_runs(tmp_path: Path) -> None:
    store = mxl.LakeStore(tmp_path / "store")
    _clips(store, 10)
    with pytest.raises(mxl.InvalidShardError):
        read_increment(store, Embedding, shards=0)
    with pytest.raises(mxl.InvalidKindError, match="kinds"):
        read_increment(store, Embedding, shards=2, kinds=("orphaned",))
    with pytest.raises(mxl.UnknownFeatureError, match="fanout/nothing"):
        read_increment(store, "fanout/nothing", shards=2)
    with pytest.raises(mxl.StoreConfigError, match="unknown"):
        read_increment({"root": str(tmp_path), "bucket": "x"}, Embedding, shards=2)
    with pytest.raises(mxl.StoreConfigError, match="LakeStore, a path"):
        read_increment(42, Embedding, shards=2)
    read_only = mxl.LakeStore(tmp_path / "store", read_only=True)
    with pytest.raises(mxl.ReadOnlyStoreError):
        LakeDatasink(read_only, Embedding)
    literal = {"root": str(tmp_path / "store"), "storage_options": {"secret_access_key": "s"}}
    with pytest.raises(mxl.SecretExposureError, match="secret_access_key"):
        read_increment(literal, Embedding, shards=2)  # the tasks would carry the secret
    with pytest.raises(mxl.SecretExposureError, match="secret_access_key"):
        LakeDatasink(literal, Embedding)
    assert store.history(Embedding) == []


def test_the_datasink_refuses_rows_that_are_not_an_increments_and_writes_nothing(
    tmp_path: Path,
) -> None:
    store = mxl.LakeStore(tmp_path / "store")
    _clips(store, 10)
    rows = store.resolve_update(Embedding).new.collect().to_arrow()
    rows = rows.append_column("dim", pa.array([1] * rows.num_rows, pa.int64()))
    sink = LakeDatasink(store, Embedding)
    with pytest.raises(mxl.MissingColumnError, match="metaxy_batch"):
        sink.write([rows], None)  # the task's code, run here: no column to derive its id from
    assert store.history(Embedding) == []
