"""Object-store settings: one model, from explicit options and the standard AWS variables.

Explicit ``storage_options`` win over the environment (``AWS_ENDPOINT_URL``,
``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_ALLOW_HTTP``); an option may be a ``${VAR}`` reference,
expanded from the environment of the process that opens the store. Each consumer
(delta-rs, pyiceberg, Lance, s3fs for DuckDB) gets the same settings spelled its own way,
so they can never disagree. Its ``repr`` shows no credential.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from metaxy_lake.credentials import expand, hide_in_logs, redact_mapping
from metaxy_lake.errors import StoreConfigError

_ENV: dict[str, tuple[str, ...]] = {
    "endpoint_url": ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    "region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "access_key_id": ("AWS_ACCESS_KEY_ID",),
    "secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
    "session_token": ("AWS_SESSION_TOKEN",),
    "allow_http": ("AWS_ALLOW_HTTP",),
}
_TRUE = {"1", "true", "yes", "on"}
DEFAULT_REGION = "us-east-1"
CONNECT_TIMEOUT_S = 5
"""Seconds to wait for a connection before the request fails (no endless retry)."""


@dataclass(frozen=True)
class StorageConfig:
    """Settings for an S3-compatible object store (all optional).

    Attributes:
        endpoint_url: e.g. ``http://127.0.0.1:8333``; AWS when unset.
        region: The bucket's region.
        access_key_id: Static access key (else the standard AWS chain).
        secret_access_key: Its secret.
        session_token: A temporary session token.
        allow_http: Allow plain-HTTP endpoints (implied by an ``http://`` endpoint).
    """

    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    allow_http: bool = False

    @classmethod
    def resolve(
        cls, options: Mapping[str, str] | None, environ: Mapping[str, str] | None = None
    ) -> StorageConfig:
        """Merge explicit options (their ``${VAR}`` references expanded) over the environment.

        Raises:
            StoreConfigError: An option name is unknown (the message lists the known ones),
                or an option refers to a variable that is not set.
        """
        env = os.environ if environ is None else environ
        known = {f.name for f in fields(cls)}
        given = expand(options or {}, "storage_options", env)
        unknown = sorted(set(given) - known)
        if unknown:
            raise StoreConfigError(f"unknown storage option(s) {unknown}; known: {sorted(known)}")
        values: dict[str, str] = {}
        for name, variables in _ENV.items():
            found = next((env[v] for v in variables if env.get(v)), None)
            if name in given:
                found = str(given[name])
            if found is not None:
                values[name] = found
        endpoint = values.get("endpoint_url")
        allow_http = values.get("allow_http", "").lower() in _TRUE or bool(
            endpoint and endpoint.startswith("http://")
        )
        return cls(
            endpoint_url=endpoint,
            region=values.get("region"),
            access_key_id=values.get("access_key_id"),
            secret_access_key=values.get("secret_access_key"),
            session_token=values.get("session_token"),
            allow_http=allow_http,
        )

    def __repr__(self) -> str:
        shown = redact_mapping({f.name: getattr(self, f.name) for f in fields(self)})
        return f"StorageConfig({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    @property
    def region_or_default(self) -> str:
        """The region, ``us-east-1`` when none is set (S3-compatible servers ignore it)."""
        return self.region or DEFAULT_REGION

    @property
    def identity(self) -> str:
        """A short stable name for (endpoint, region, credentials): one DuckDB filesystem each.

        The secret is part of it (hashed), so that a store with wrong credentials never
        reads through the filesystem of one with the right ones.
        """
        parts = [
            self.endpoint_url,
            self.region,
            self.access_key_id,
            self.secret_access_key,
            self.session_token,
        ]
        return hashlib.sha256("|".join(p or "" for p in parts).encode()).hexdigest()[:12]

    def describe(self) -> str:
        """Where requests go, for error messages (never the secret)."""
        return f"endpoint {self.endpoint_url or 'AWS'}, key {self.access_key_id or '(AWS chain)'}"

    def s3fs_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``s3fs.S3FileSystem``."""
        kwargs: dict[str, object] = {
            "client_kwargs": {
                "region_name": self.region_or_default,
                **({"endpoint_url": self.endpoint_url} if self.endpoint_url else {}),
            },
            "config_kwargs": {
                "connect_timeout": CONNECT_TIMEOUT_S,
                "retries": {"max_attempts": 2, "mode": "standard"},
            },
        }
        if self.access_key_id:
            kwargs.update(key=self.access_key_id, secret=self.secret_access_key)
        if self.session_token:
            kwargs["token"] = self.session_token
        hide_in_logs(self.secret_access_key, self.session_token)  # botocore logs the token
        return kwargs


def object_store_options(root: str, storage: StorageConfig) -> dict[str, str] | None:
    """Options for Rust's ``object_store`` crate (delta-rs and Lance both use it).

    None for a local root.
    """
    if not is_object_store(root):
        return None
    options = {
        "aws_region": storage.region_or_default,
        "allow_http": str(storage.allow_http).lower(),
        "connect_timeout": f"{CONNECT_TIMEOUT_S}s",
    }
    spelled = {
        "aws_endpoint": storage.endpoint_url,
        "aws_access_key_id": storage.access_key_id,
        "aws_secret_access_key": storage.secret_access_key,
        "aws_session_token": storage.session_token,
    }
    return {**options, **{k: v for k, v in spelled.items() if v}}


def pyarrow_filesystem(uri: str, storage: StorageConfig) -> tuple[Any, str]:
    """A pyarrow filesystem for ``uri`` and the path of ``uri`` inside it."""
    from pyarrow import fs

    if not is_object_store(uri):
        return fs.LocalFileSystem(), uri.removeprefix("file://")
    endpoint = urlsplit(storage.endpoint_url) if storage.endpoint_url else None
    s3 = fs.S3FileSystem(
        access_key=storage.access_key_id,
        secret_key=storage.secret_access_key,
        session_token=storage.session_token,
        region=storage.region_or_default,
        endpoint_override=endpoint.netloc if endpoint else None,
        scheme=endpoint.scheme if endpoint else "https",
        connect_timeout=CONNECT_TIMEOUT_S,
    )
    return s3, uri.removeprefix("s3://")


def is_object_store(uri: str) -> bool:
    """Whether a root URI names an object store (``s3://...``)."""
    return uri.startswith("s3://")
