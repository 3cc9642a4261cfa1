"""What a credential is, and how one is kept out of files, reprs, messages and pickles.

One rule serves the configuration file (a credential is a ``${VAR}`` reference there), the
``StoreSpec`` (it carries references to another process, never the secret) and redaction
(every repr, message and ``mxl config show``):

- a key is a credential when it names a secret, key, token, password or credential
  (case-insensitive, spelled with ``_``, ``-``, ``.`` or in camelCase: ``access_key_id``,
  ``client.secret-access-key``, ``adls.account-key``, ``gcs.oauth2.token``...);
- a URI carries one in its user info (``scheme://user:password@host``) and in any query
  parameter whose name is a credential key (``?password=...``).

Logs: botocore at DEBUG prints each request's signed headers, a session token among them
(measured, botocore 1.43: ``botocore.auth`` and ``botocore.endpoint``); the credentials
this process hands to an S3 client are replaced by ``***`` in those loggers' records.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from metaxy_lake.errors import StoreConfigError

REDACTED = "***"
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
"""``${VAR}`` or ``${VAR:-default}``."""
_PLAIN_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORDS = re.compile(r"[^a-z0-9]+")
_NAMING = ("secret", "password", "passwd", "token", "credential")
_WHOLE = frozenset({"pwd", "sas", "connectionstring"})
REQUEST_LOGGERS = ("botocore.auth", "botocore.endpoint")
"""The loggers that print a request's headers (with its session token) at DEBUG."""
_HIDDEN: set[str] = set()
_USERINFO = re.compile(r"^([^:/?#]+://)([^/?#]*)@")
_PARAMETER = re.compile(r"([?&])([^=&#]+)=([^&#]*)")


def is_credential_key(key: str) -> bool:
    """Whether a setting's name says it holds a credential.

    A word of the name contains ``secret``, ``password``, ``passwd``, ``token`` or
    ``credential``, ends with ``key`` (``access_key_id``, ``account-key``, ``apikey``), or
    is ``pwd``, ``sas`` or a connection string.
    """
    spaced = _CAMEL.sub("_", key).lower()
    words = [w for w in _WORDS.split(spaced) if w]
    joined = "".join(words)
    return (
        any(part in word for word in words for part in _NAMING)
        or any(word.endswith("key") for word in words)
        or any(word in _WHOLE for word in words)
        or "connectionstring" in joined
    )


def uri_credentials(value: str) -> list[str]:
    """The credentials a URI carries: its user info and credential query values."""
    if "://" not in value:
        return []
    found = _USERINFO.match(value)
    parts = [found.group(2)] if found and found.group(2) else []
    query = value.partition("?")[2].partition("#")[0]
    named = _PARAMETER.finditer(f"?{query}") if query else iter(())
    return parts + [p.group(3) for p in named if is_credential_key(p.group(2))]


def is_reference(text: str) -> bool:
    """Whether ``text`` is ``${VAR}`` references only (``:``-separated, no default).

    ``${VAR:-literal}`` is no reference: its default would be a credential in the text.
    """
    return all(_PLAIN_REFERENCE.fullmatch(part) for part in text.split(":"))


def literal_credentials(settings: Mapping[str, Any]) -> list[str]:
    """The keys of ``settings`` that hold a credential not given as ``${VAR}`` references.

    A credential key's value must be references only; any other value may be a URI, whose
    user info and credential query values must be.
    """
    literal = []
    for key, value in settings.items():
        if is_credential_key(key):
            held = [value] if value is not None else []
        else:
            held = uri_credentials(value) if isinstance(value, str) else []
        if any(not (isinstance(v, str) and is_reference(v)) for v in held):
            literal.append(key)
    return literal


def holds_credential(key: str, value: object) -> bool:
    """Whether a setting holds a credential: by its name, or a URI's user info or query."""
    return is_credential_key(key) or (isinstance(value, str) and bool(uri_credentials(value)))


def redact_uri(text: str) -> str:
    """``text`` with a URI's user info and credential query values replaced by ``***``."""
    if "://" not in text:
        return text
    text = _USERINFO.sub(rf"\1{REDACTED}@", text, count=1)

    def parameter(found: re.Match[str]) -> str:
        if not is_credential_key(found.group(2)):
            return found.group(0)
        return f"{found.group(1)}{found.group(2)}={REDACTED}"

    return _PARAMETER.sub(parameter, text)


def redact(key: str, value: Any) -> Any:
    """A setting's value fit to show: ``***`` for a credential, URIs and mappings redacted."""
    if value is None:
        return None
    if is_credential_key(key):
        return REDACTED
    if isinstance(value, str):
        return redact_uri(value)
    if isinstance(value, Mapping):
        return redact_mapping(value)
    return value


def redact_mapping(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings fit to show: every credential replaced by ``***``."""
    return {key: redact(str(key), value) for key, value in settings.items()}


def expand(
    settings: Mapping[str, Any], where: str, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Settings with ``${VAR}`` (and ``${VAR:-default}``) expanded from the environment.

    The process that opens a store expands them, so each process resolves credentials from
    its own environment.

    Args:
        settings: Storage options or catalog properties.
        where: How messages name them (``storage_options``, ``catalog``).
        environ: The environment (this process's by default).

    Raises:
        StoreConfigError: A variable is not set (the message names key and variable).
    """
    env = os.environ if environ is None else environ

    def one(key: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value

        def substitute(found: re.Match[str]) -> str:
            name, default = found.group(1), found.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise StoreConfigError(
                f"{where}.{key} uses ${{{name}}}, which is not set in this process's "
                f"environment: set {name} (in every worker's environment too)"
            )

        return REFERENCE.sub(substitute, value)

    return {key: one(key, value) for key, value in settings.items()}


class _Scrub(logging.Filter):
    """Replaces the hidden credentials in a record's message by ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        found = [value for value in _HIDDEN if value in text]
        if found:
            for value in found:
                text = text.replace(value, REDACTED)
            record.msg, record.args = text, ()
        return True


_SCRUB = _Scrub()


def hide_in_logs(*values: str | None) -> None:
    """Keep credentials out of the request logs of the S3 clients this process drives.

    Filters run only for records a logger emits (at DEBUG, when someone debugs), so this
    costs nothing otherwise.
    """
    _HIDDEN.update(value for value in values if value)
    for name in REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if _SCRUB not in logger.filters:
            logger.addFilter(_SCRUB)
