"""``StoreSpec``: a store's configuration as plain data, opened again in another process.

Ray tasks and serverless functions open their store from it (docs/design.md, Scale): it must
pickle, hold no connection, keep the fallback chain with its pins, and accept every way a
user names a store.
"""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path

import pytest

import metaxy_lake as mxl


def test_a_store_spec_pickles_and_opens_the_same_store_with_its_chain(tmp_path: Path) -> None:
    prod = mxl.LakeStore(tmp_path / "prod", read_only=True, name="prod")
    base = mxl.LakeStore(tmp_path / "base", format="lance", name="base")
    dev = mxl.LakeStore(
        tmp_path / "dev",
        fallback=[prod, base.pinned("2026-11-30T00:00Z")],
        name="dev",
        retention=dt.timedelta(hours=12),
        commit_timeout_s=9.0,
        project="video",
    )
    spec = pickle.loads(pickle.dumps(dev.spec))
    assert spec == dev.spec
    opened = mxl.LakeStore.from_spec(spec)
    assert (opened.root, opened.format.name, opened.hash_algorithm) == (
        dev.root,
        "delta",
        "md5",
    )
    assert opened.fallback == ["prod", "base"]
    assert opened.spec == dev.spec
    (prod_spec, prod_pin), (base_spec, base_pin) = spec.fallback
    assert prod_spec.read_only and prod_pin is None
    assert base_spec.format == "lance" and base_pin == "2026-11-30T00:00:00+00:00"
    assert (spec.retention_s, spec.commit_timeout_s, spec.project) == (43200.0, 9.0, "video")


def test_explicit_storage_options_travel_and_the_environments_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-the-environment")
    store = mxl.LakeStore(tmp_path, storage_options={"region": "eu-west-1"})
    assert store.spec.storage_options == {"region": "eu-west-1"}
    assert "from-the-environment" not in repr(pickle.dumps(store.spec))


def test_every_way_of_naming_a_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "metaxy_lake.toml").write_text(
        'project = "video"\n[stores.prod]\nroot = "./prod"\nread_only = true\n'
        '[stores.dev]\nroot = "./dev"\nformat = "iceberg"\nfallback = ["prod"]\n'
    )
    monkeypatch.chdir(tmp_path)
    named = mxl.StoreSpec.of("dev")
    assert (named.root, named.format, named.name, named.project) == (
        str(tmp_path / "dev"),
        "iceberg",
        "dev",
        "video",
    )
    assert named.fallback[0][0].root == str(tmp_path / "prod")
    assert named.fallback[0][0].read_only
    assert mxl.StoreSpec.of("./elsewhere").root == str(tmp_path / "elsewhere")
    with pytest.raises(mxl.StoreConfigError, match="unknown store 'prdo' \\(stores: dev, prod\\)"):
        mxl.StoreSpec.of("prdo")  # a typo is no empty store
    (tmp_path / "lake").mkdir()
    assert mxl.StoreSpec.of("lake").root == str(tmp_path / "lake")
    assert mxl.StoreSpec.of(tmp_path / "p").root == str(tmp_path / "p")
    assert mxl.StoreSpec.of("s3://bucket/lake").root == "s3://bucket/lake"
    assert mxl.StoreSpec.of("s3://bucket/lake/").root == "s3://bucket/lake"  # as the store
    mapping = mxl.StoreSpec.of(
        {"root": "s3://bucket/lake", "format": "lance", "storage_options": {"region": "x"}}
    )
    assert (mapping.format, dict(mapping.storage_options)) == ("lance", {"region": "x"})
    assert mxl.StoreSpec.of(named) is named


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"format": "delta"}, "root is missing"),
        ({"root": "/x", "bucket": "b"}, "unknown: \\['bucket'\\]"),
        (42, "got int"),
    ],
)
def test_what_names_no_store_is_a_config_error(config: object, message: str) -> None:
    with pytest.raises(mxl.StoreConfigError, match=message):
        mxl.StoreSpec.of(config)


def test_a_spec_carries_references_which_each_opening_expands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MXL_SPEC_REGION", "eu-west-1")
    monkeypatch.setenv("MXL_SPEC_SECRET", "first-secret")
    options = {"region": "${MXL_SPEC_REGION}", "secret_access_key": "${MXL_SPEC_SECRET}"}
    store = mxl.LakeStore(tmp_path, storage_options=options)
    assert (store.storage.region, store.storage.secret_access_key) == ("eu-west-1", "first-secret")
    assert store.spec.storage_options == options
    shipped = pickle.dumps(store.spec)
    assert b"first-secret" not in shipped and "first-secret" not in repr(store.spec)
    monkeypatch.setenv("MXL_SPEC_SECRET", "the-workers-secret")  # another process's environment
    assert (
        mxl.LakeStore.from_spec(pickle.loads(shipped)).storage.secret_access_key
        == "the-workers-secret"
    )
    monkeypatch.delenv("MXL_SPEC_SECRET")
    with pytest.raises(mxl.StoreConfigError, match=r"secret_access_key uses \$\{MXL_SPEC_SECRET\}"):
        mxl.LakeStore.from_spec(pickle.loads(shipped))


def test_a_spec_with_a_literal_credential_opens_here_and_never_pickles(tmp_path: Path) -> None:
    store = mxl.LakeStore(tmp_path, storage_options={"secret_access_key": "literal-secret"})
    assert mxl.LakeStore.from_spec(store.spec).storage.secret_access_key == "literal-secret"
    assert "literal-secret" not in repr(store.spec)
    with pytest.raises(mxl.SecretExposureError, match='pass it as "\\$\\{VAR\\}"'):
        pickle.dumps(store.spec)
    assert not list(tmp_path.iterdir())  # nothing written
