"""Project configuration: discovery, validation, expansion, named stores.

See docs/design.md, Configuration.

Every invalid file is one ``ConfigError`` naming the file, the key and what was expected.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from helpers import root_rows

import metaxy_lake as mxl
from metaxy_lake.config import config_json, import_features, load_config, open_store

VALID = """
project = "video"
features = "config_test_pipeline"
default_store = "dev"
hash_length = 16

[stores.dev]
root = "./.metaxy/dev"
retention = "36h"

[stores.prod]
root = "${PROD_ROOT:-./.metaxy/prod}"
format = "iceberg"
read_only = true
fallback = ["dev"]
[stores.prod.storage_options]
endpoint_url = "${S3_ENDPOINT:-http://127.0.0.1:8333}"
secret_access_key = "${S3_SECRET}"
"""


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METAXY_LAKE_CONFIG", raising=False)
    monkeypatch.setenv("S3_SECRET", "from-the-environment")
    monkeypatch.delenv("PROD_ROOT", raising=False)
    monkeypatch.delenv("S3_ENDPOINT", raising=False)


def write(folder: Path, text: str, name: str = "metaxy_lake.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def test_a_valid_file_is_read_with_defaults_and_expansion(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    config = load_config(path)
    assert config is not None
    assert (config.project, config.features, config.default_store) == (
        "video",
        ["config_test_pipeline"],
        "dev",
    )
    assert config.hash_length == 16
    dev, prod = config.store(), config.store("prod")
    assert (dev.root, dev.format, dev.read_only, dev.hash_algorithm) == (
        "./.metaxy/dev",
        "delta",
        False,
        "md5",
    )
    assert prod.root == "./.metaxy/prod"  # ${VAR:-default} with VAR unset
    assert prod.storage_options == {  # a credential stays a reference: never the secret
        "endpoint_url": "http://127.0.0.1:8333",
        "secret_access_key": "${S3_SECRET}",
    }
    opened = open_store("prod", config=config)  # the process that opens it expands it
    assert opened.storage.secret_access_key == "from-the-environment"
    assert opened.spec.storage_options["secret_access_key"] == "${S3_SECRET}"
    assert config_json(config)["stores"]["prod"]["storage_options"]["secret_access_key"] == "***"


def test_variables_expand_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PROD_ROOT", "s3://bucket/prod")
    config = load_config(write(tmp_path, VALID))
    assert config is not None and config.store("prod").root == "s3://bucket/prod"


def test_discovery_walks_up_and_prefers_explicit_then_the_environment(
    tmp_path: Path, monkeypatch
) -> None:
    outer = write(tmp_path, 'project = "outer"\n')
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    found = load_config(start=deep)
    assert found is not None and (found.project, found.path) == ("outer", outer.resolve())

    write(
        tmp_path / "a",
        '[project]\nname = "x"\n[tool.metaxy_lake]\nproject = "py"\n',
        "pyproject.toml",
    )
    found = load_config(start=deep)
    assert found is not None and found.project == "py"  # the nearest file wins

    other = write(tmp_path / "elsewhere", 'project = "env"\n')
    monkeypatch.setenv("METAXY_LAKE_CONFIG", str(other))
    found = load_config(start=deep)
    assert found is not None and found.project == "env"
    explicit = load_config(outer, start=deep)
    assert explicit is not None and explicit.project == "outer"


def test_a_pyproject_without_the_table_is_passed_over(tmp_path: Path) -> None:
    write(tmp_path, 'project = "outer"\n')
    write(tmp_path / "pkg", '[project]\nname = "pkg"\n', "pyproject.toml")
    found = load_config(start=tmp_path / "pkg")
    assert found is not None and found.project == "outer"


BAD = [
    ("bogus = 1\n", "unknown key 'bogus'"),
    ("hash_length = 'long'\n", "hash_length"),
    ('default_store = "nope"\n', "unknown store 'nope'"),
    ('[stores.dev]\nroot = "x"\nformat = "parquet"\n', "stores.dev.format"),
    ('[stores.dev]\nroot = "x"\nread_only = "yes"\n', "stores.dev.read_only"),
    ('[stores.dev]\nformat = "delta"\n', "stores.dev.root is required"),
    ('[stores.dev]\nroot = "x"\ncolour = "red"\n', "unknown key 'stores.dev.colour'"),
    (
        '[stores.dev]\nroot = "${UNSET_VAR_FOR_TEST}"\n',
        "stores.dev.root uses ${UNSET_VAR_FOR_TEST}",
    ),
    (
        '[stores.dev]\nroot = "x"\nstorage_options = { secret_access_key = "hunter2" }\n',
        "stores.dev.storage_options.secret_access_key holds a credential",
    ),
    ('[stores.dev]\nroot = "x"\nfallback = ["prod"]\n', "unknown store 'prod'"),
    (
        '[stores.a]\nroot = "a"\nfallback = ["b"]\n[stores.b]\nroot = "b"\nfallback = ["a"]\n',
        "fallback loop: a -> b -> a",
    ),
    (
        '[stores.a]\nroot = "a"\nfallback = [{ store = "a", as_of = 3 }]\n',
        "stores.a.fallback.0.as_of: input should be a valid string (got 3)",
    ),
    ("project = [\n", "cannot be read as TOML"),
    ('[stores.dev]\nroot = "x"\nretention = "soon"\n', "stores.dev.retention"),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[e for _, e in BAD])
def test_an_invalid_file_is_one_error_naming_the_file_and_the_key(
    tmp_path: Path, monkeypatch, text: str, expected: str
) -> None:
    monkeypatch.delenv("UNSET_VAR_FOR_TEST", raising=False)
    path = write(tmp_path, text)
    with pytest.raises(mxl.ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(str(path.resolve())), message
    assert expected in message
    assert "\n" not in message


def test_a_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(mxl.ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.toml")


def test_open_store_opens_the_named_store_relative_to_the_file(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, VALID)
    (tmp_path / "config_test_pipeline.py").write_text(
        "import metaxy_lake as mxl\n"
        "class Clip(mxl.Feature, spec=mxl.FeatureSpec(key='clip', fields=['frames'])):\n"
        "    path: str\n"
    )
    monkeypatch.chdir(tmp_path / ".")
    config = load_config()
    assert config is not None
    graph = mxl.FeatureGraph()
    with graph.use():
        monkeypatch.syspath_prepend(str(tmp_path))
        import_features(config)
        clip = graph.get("clip")
        dev = mxl.open_store()
        assert Path(dev.root) == (tmp_path / ".metaxy" / "dev").resolve()
        assert dev.context().retention == dt.timedelta(hours=36)
        assert mxl.open_store("prod").context().retention == dt.timedelta(days=7)
        dev.write("clip", root_rows({"s1": {"frames": "f"}}, path=["p"]))
        assert dev.read("clip").collect().to_polars()["sample_uid"].to_list() == ["s1"]
        prod = mxl.open_store("prod")
        assert (prod.format.name, prod.read_only) == ("iceberg", True)
        with pytest.raises(mxl.ReadOnlyStoreError):
            prod.write("clip", root_rows({"s1": {"frames": "f"}}, path=["p"]))
        assert not (tmp_path / ".metaxy" / "prod").exists()
    assert str(clip.key) == "clip"
    with pytest.raises(mxl.ConfigError, match="unknown store 'staging'"):
        mxl.open_store("staging")


def test_a_features_module_that_cannot_be_imported_is_a_config_error(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, 'features = ["no_such_module_here"]\n'))
    assert config is not None
    with pytest.raises(mxl.ConfigError, match="cannot import 'no_such_module_here'"):
        import_features(config)


def test_open_store_without_a_file_says_how_to_make_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(mxl.ConfigError, match="mxl init"):
        mxl.open_store()
