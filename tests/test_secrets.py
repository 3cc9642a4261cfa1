"""Secrets stay secret: no repr, pickle, log line, CLI output or error shows a credential.

A canary secret (the S3 server's real one, so that the store works) is given through the
environment and through ``metaxy_lake.toml`` (``${VAR}``); a store spec carries the
reference, never the secret, and a worker resolves it from its own environment. Every way
of writing a credential into the configuration file is refused.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import root_rows

import metaxy_lake as mxl
from metaxy_lake import open_store
from metaxy_lake.config import StoreSettings, config_json, load_config
from metaxy_lake.storage import StorageConfig

SECRET_VAR = "MXL_TEST_SECRET"
KEY_VAR = "MXL_TEST_KEY"
FEATURES = """\
import metaxy_lake as mxl


class Clip(mxl.Feature, spec=mxl.FeatureSpec(key="secrets/clip", fields=["frames"])):
    path: str


class Crop(mxl.Feature, spec=mxl.FeatureSpec(key="secrets/crop", deps=[Clip], fields=["box"])):
    width: int
"""
WORKER = """\
import logging, os, pickle, sys
logging.basicConfig(level=logging.DEBUG)
for name in list(logging.root.manager.loggerDict):
    logging.getLogger(name).setLevel(logging.DEBUG)
import polars as pl
import metaxy_lake as mxl
from secret_features import Clip, Crop

spec = pickle.loads(open(sys.argv[1], "rb").read())
secret = os.environ.pop(sys.argv[2])
try:  # without the variable, this process has no secret to open the store with
    mxl.LakeStore.from_spec(spec)
except mxl.StoreConfigError as exc:
    print("refused:", exc)
os.environ[sys.argv[2]] = secret
store = mxl.LakeStore.from_spec(spec)
store.write(Clip, pl.DataFrame({
    "sample_uid": ["w1"], "path": ["/w1.mp4"], "metaxy_provenance_by_field": [{"frames": "w1"}],
}))
todo = store.resolve_update(Crop).todo().collect().to_polars()
print("rows", store.read(Clip).collect().to_polars().height, "todo", todo.height)
"""


def _clips(n: int) -> Any:
    uids = [f"c{i}" for i in range(n)]
    return root_rows({u: {"frames": u} for u in uids}, path=[f"/{u}.mp4" for u in uids])


@pytest.fixture
def features(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, graph: mxl.FeatureGraph) -> Any:
    """The test's features, in an importable module (the worker process imports it too)."""
    (tmp_path / "secret_features.py").write_text(FEATURES)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("secret_features", None)
    import secret_features

    yield secret_features
    sys.modules.pop("secret_features", None)


@pytest.fixture
def debug_log() -> Iterator[list[str]]:
    """Every log line of every logger, at DEBUG, while the test runs."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    loggers = [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]
    loggers = [logging.root, *(g for g in loggers if isinstance(g, logging.Logger))]
    levels = [g.level for g in loggers]
    for g in loggers:
        g.setLevel(logging.DEBUG)
    logging.root.addHandler(handler)
    try:
        yield lines
    finally:
        logging.root.removeHandler(handler)
        for g, level in zip(loggers, levels, strict=True):
            g.setLevel(level)


def _config(store_kwargs: dict[str, Any], tmp_path: Path) -> Path:
    """A metaxy_lake.toml whose store takes its credentials from ${VAR} references."""
    options = store_kwargs["storage_options"]
    catalog = store_kwargs.get("catalog")
    text = f"""\
        default_store = "lake"
        [stores.lake]
        root = "{store_kwargs["root"]}"
        format = "{store_kwargs["format"]}"
        [stores.lake.storage_options]
        endpoint_url = "{options["endpoint_url"]}"
        access_key_id = "${{{KEY_VAR}}}"
        secret_access_key = "${{{SECRET_VAR}}}"
        """
    if catalog is not None:
        text += f'[stores.lake.catalog]\ntype = "sql"\nuri = "{catalog["uri"]}"\n'
    path = tmp_path / "metaxy_lake.toml"
    path.write_text(textwrap.dedent(text))
    return path


def _shown(store: mxl.LakeStore) -> str:
    """Everything a store shows of itself: its reprs, its spec's and its pickle."""
    ctx = store.context()
    return "\n".join(
        [
            repr(store),
            repr(store.spec),
            repr(store.storage),
            repr(ctx),
            repr(store.format),
            str(pickle.dumps(store.spec)),
        ]
    )


@pytest.mark.locations("s3")
def test_a_secret_from_the_environment_or_the_configuration_shows_nowhere(
    store_kwargs: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    features: Any,
    debug_log: list[str],
) -> None:
    options = store_kwargs["storage_options"]
    secret = options["secret_access_key"]
    monkeypatch.setenv(SECRET_VAR, secret)
    monkeypatch.setenv(KEY_VAR, options["access_key_id"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", options["access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    config = load_config(_config(store_kwargs, tmp_path))
    assert config is not None
    configured = open_store(config=config)
    given = {k: v for k, v in options.items() if k not in ("access_key_id", "secret_access_key")}
    from_env = mxl.LakeStore(**{**store_kwargs, "storage_options": given})
    configured.write(features.Clip, _clips(3))
    assert from_env.read(features.Clip).collect().to_polars().height == 3
    assert from_env.resolve_update(features.Crop).counts()["new"] == 3
    wrong = mxl.LakeStore(
        **{**store_kwargs, "storage_options": {**options, "secret_access_key": "wrong"}}
    )
    with pytest.raises(mxl.StorageAccessError) as failed:
        wrong.write(features.Clip, _clips(1))
    assert configured.storage.secret_access_key == secret  # expanded where it opened
    assert configured.spec.storage_options["secret_access_key"] == f"${{{SECRET_VAR}}}"
    shown = [_shown(configured), _shown(from_env), repr(config), str(config_json(config))]
    # the capture hears Python's S3 clients (Lance talks to S3 from Rust only: its logs are
    # the worker test's)
    assert debug_log or store_kwargs["format"] == "lance"
    for text in [*shown, *debug_log, str(failed.value)]:
        assert secret not in text


@pytest.mark.locations("s3")
def test_a_worker_resolves_the_secret_from_its_own_environment(
    store_kwargs: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, features: Any
) -> None:
    options = store_kwargs["storage_options"]
    secret = options["secret_access_key"]
    monkeypatch.setenv(SECRET_VAR, secret)
    monkeypatch.setenv(KEY_VAR, options["access_key_id"])
    references = {
        **options,
        "access_key_id": f"${{{KEY_VAR}}}",
        "secret_access_key": f"${{{SECRET_VAR}}}",
    }
    store = mxl.LakeStore(**{**store_kwargs, "storage_options": references})
    store.write(features.Clip, _clips(2))  # expanded in this process too
    spec = pickle.dumps(store.spec)
    assert secret.encode() not in spec and f"${{{SECRET_VAR}}}".encode() in spec
    (tmp_path / "spec.pickle").write_bytes(spec)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    # the Rust libraries' own logs too (delta-rs, Lance, object_store: 0.5 MB of lines)
    env = {**os.environ, "RUST_LOG": "debug", "LANCE_LOG": "debug", "PYTHONPATH": _path(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "spec.pickle"), SECRET_VAR],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"refused: storage_options.secret_access_key uses ${{{SECRET_VAR}}}" in done.stdout
    assert "rows 3 todo 3" in done.stdout
    assert "DEBUG" in done.stderr  # the logs were on
    assert secret not in done.stdout + done.stderr
    assert store.read(features.Clip).collect().to_polars().height == 3


def _path(tmp_path: Path) -> str:
    here = Path(__file__).resolve().parent
    return ":".join([str(tmp_path), str(here.parent), str(here)])


CANARY = "S3CR3T-canary"
BYPASSES = [
    ("storage_options", "secret_access_key", '"${MXL_UNSET_VARIABLE:-S3CR3T-canary}"'),
    ("storage_options", "session_token", '"S3CR3T-canary"'),
    ("storage_options", "endpoint_url", '"http://user:S3CR3T-canary@127.0.0.1:1"'),
    ("catalog", '"client.secret-access-key"', '"S3CR3T-canary"'),
    ("catalog", '"adls.account-key"', '"S3CR3T-canary"'),
    ("catalog", '"gcs.oauth2.token"', '"S3CR3T-canary"'),
    ("catalog", "clientSecret", '"S3CR3T-canary"'),
    ("catalog", "uri", '"postgresql://admin:S3CR3T-canary@db.example/lake"'),
    ("catalog", "uri", '"postgresql://admin:${MXL_PG_PASSWORD}@db.example/lake"'),
    ("catalog", "uri", '"postgresql://db.example/lake?sslmode=require&password=S3CR3T-canary"'),
]


@pytest.mark.parametrize(("section", "key", "value"), BYPASSES)
def test_every_way_of_writing_a_credential_into_the_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str, key: str, value: str
) -> None:
    monkeypatch.setenv("MXL_PG_PASSWORD", CANARY)
    monkeypatch.delenv("MXL_UNSET_VARIABLE", raising=False)
    path = tmp_path / "metaxy_lake.toml"
    path.write_text(
        f'default_store = "lake"\n[stores.lake]\nroot = "./lake"\nformat = "iceberg"\n'
        f"[stores.lake.{section}]\n{key} = {value}\n"
    )
    before = sorted(tmp_path.rglob("*"))
    named = re.escape(f"stores.lake.{section}.{key.strip(chr(34))} holds a credential")
    with pytest.raises(mxl.ConfigError, match=named) as refused:
        load_config(path)
    assert CANARY not in str(refused.value) and "${VAR}" in str(refused.value)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(mxl.ConfigError, match=named):
        mxl.StoreSpec.of("lake")  # as a Ray task or a serverless function names it
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_credentials_from_references_are_accepted_and_stay_references(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MXL_PG_USER", "admin")
    monkeypatch.setenv("MXL_PG_PASSWORD", CANARY)
    monkeypatch.setenv("MXL_TOKEN", CANARY)
    monkeypatch.setenv("MXL_CATALOG_URI", f"postgresql://admin:{CANARY}@db.example/lake")
    path = tmp_path / "metaxy_lake.toml"
    path.write_text(
        'default_store = "lake"\n[stores.lake]\nroot = "./lake"\nformat = "iceberg"\n'
        "[stores.lake.catalog]\n"
        'type = "sql"\nuri = "postgresql://${MXL_PG_USER}:${MXL_PG_PASSWORD}@db.example/lake"\n'
        '"gcs.oauth2.token" = "${MXL_TOKEN}"\n'
        '[stores.other]\nroot = "./other"\nformat = "iceberg"\n'
        'catalog = { uri = "${MXL_CATALOG_URI}" }\n'  # a password the variable holds
    )
    config = load_config(path)
    assert config is not None
    catalog = config.store("lake").catalog
    assert catalog is not None
    assert catalog["uri"] == "postgresql://${MXL_PG_USER}:${MXL_PG_PASSWORD}@db.example/lake"
    assert config_json(config)["stores"]["lake"]["catalog"] == {
        "type": "sql",
        "uri": "postgresql://***@db.example/lake",
        "gcs.oauth2.token": "***",
    }
    assert config.store("other").catalog == {"uri": "${MXL_CATALOG_URI}"}
    spec, other = open_store(config=config).spec, open_store("other", config=config).spec
    assert CANARY.encode() not in pickle.dumps(spec) + pickle.dumps(other)
    assert CANARY not in repr(config) + repr(spec) + repr(other)


def test_a_literal_credential_works_in_its_process_and_never_pickles(tmp_path: Path) -> None:
    options = {"region": "eu-west-1", "session_token": CANARY, "access_key_id": "AKIA"}
    store = mxl.LakeStore(tmp_path / "lake", storage_options=options)
    assert store.storage.session_token == CANARY  # usable here
    assert CANARY not in _shown_here(store)
    with pytest.raises(mxl.SecretExposureError, match=r"storage_options\.session_token") as e:
        pickle.dumps(store.spec)
    assert CANARY not in str(e.value) and "${VAR}" in str(e.value)
    iceberg = mxl.LakeStore(
        tmp_path / "ice", format="iceberg", catalog={"type": "sql", "token": "${X:-" + CANARY + "}"}
    )
    with pytest.raises(mxl.SecretExposureError, match=r"catalog\.token"):
        pickle.dumps(iceberg.spec)  # a default literal is a literal
    dev = mxl.LakeStore(tmp_path / "dev", fallback=[store])
    with pytest.raises(mxl.SecretExposureError, match="session_token"):
        pickle.dumps(dev.spec)  # also deep in a fallback chain
    assert not (tmp_path / "lake").exists()


def _shown_here(store: mxl.LakeStore) -> str:
    """A store's reprs (its spec cannot pickle: it holds a literal credential)."""
    ctx = store.context()
    parts = [store, store.spec, store.storage, ctx, store.format]
    return "\n".join(repr(p) for p in parts)


MXL = str(Path(sys.executable).parent / "mxl")


def _mxl(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MXL, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_cli_shows_no_credential_in_its_output_or_its_errors(
    s3_server: Any, tmp_path: Path
) -> None:
    options = s3_server.options()
    secret = options["secret_access_key"]
    kwargs = {"root": f"s3://{s3_server.bucket}/{tmp_path.name}", "format": "delta"}
    config = _config({**kwargs, "storage_options": options}, tmp_path)
    config.write_text('features = ["secret_features"]\n' + config.read_text())
    (tmp_path / "secret_features.py").write_text(FEATURES)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "METAXY_LAKE"))}
    env = {**env, KEY_VAR: options["access_key_id"], SECRET_VAR: secret}
    text = _mxl(tmp_path, env, "config", "show")
    shown = _mxl(tmp_path, env, "config", "show", "--output", "json")
    assert text.returncode == shown.returncode == 0, text.stderr + shown.stderr
    stores = json.loads(shown.stdout)["stores"]
    assert stores["lake"]["storage_options"]["secret_access_key"] == "***"
    assert "***" in text.stdout
    wrong = "wrong-S3CR3T-canary"
    failed = _mxl(tmp_path, {**env, SECRET_VAR: wrong}, "status", "secrets/crop")
    assert failed.returncode == 1 and "403" in failed.stderr, failed.stderr  # refused, one line
    for done, hidden in ((text, secret), (shown, secret), (failed, wrong)):
        assert hidden not in done.stdout + done.stderr


def test_a_configuration_error_shows_the_reference_never_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MXL_TOKEN", CANARY)
    path = tmp_path / "metaxy_lake.toml"
    path.write_text('[stores.lake]\nroot = "./lake"\nread_only = "${MXL_TOKEN}"\n')
    with pytest.raises(mxl.ConfigError, match=r"stores.lake.read_only: .*got '\$\{MXL_TOKEN\}'"):
        load_config(path)
    path.write_text('[stores.lake]\nroot = "./lake"\nstorage_options = "${MXL_TOKEN}"\n')
    with pytest.raises(mxl.ConfigError, match=r"stores\.lake\.storage_options") as refused:
        load_config(path)
    assert CANARY not in str(refused.value)


def test_a_session_token_stays_out_of_the_s3_clients_request_logs(
    s3_server: Any, debug_log: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import s3fs

    monkeypatch.setenv("AWS_SESSION_TOKEN", CANARY)  # a token from the environment
    storage = StorageConfig.resolve(s3_server.options())
    # the filesystem DuckDB reads through (engine/filesystems.py) is made of these
    client = s3fs.S3FileSystem(skip_instance_cache=True, **storage.s3fs_kwargs())
    with pytest.raises(PermissionError):
        client.ls(s3_server.bucket)  # the server knows no such session: the request was sent
    assert any("x-amz-security-token" in line for line in debug_log)  # botocore printed it
    assert not [line for line in debug_log if CANARY in line]


@pytest.mark.filterwarnings("ignore:Query string argument:sqlalchemy.exc.SAWarning")
def test_a_catalog_password_shows_in_no_error_or_repr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, features: Any
) -> None:
    monkeypatch.setenv("MXL_PG_PASSWORD", CANARY)
    uri = "sqlite:////nonexistent-dir/catalog.db?password=${MXL_PG_PASSWORD}"
    store = mxl.LakeStore(tmp_path / "lake", format="iceberg", catalog={"type": "sql", "uri": uri})
    with pytest.raises(mxl.StorageAccessError) as failed:  # the catalog cannot be opened
        store.write(features.Clip, _clips(1))
    assert store.spec.catalog == {"type": "sql", "uri": uri}  # the reference travels
    assert CANARY not in str(failed.value) + _shown(store)
    settings = StoreSettings(root="x", catalog={"uri": f"postgresql://u:{CANARY}@db/lake"})
    assert CANARY not in repr(settings) and "postgresql://***@db/lake" in repr(settings)
