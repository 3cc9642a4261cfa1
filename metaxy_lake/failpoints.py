"""Named failpoints for crash tests: ``METAXY_LAKE_FAILPOINT=<name>[:kill|:raise]``.

Off by default; the variable is read only where a failpoint sits. ``kill`` (the default)
SIGKILLs the process on the spot, as a crash would; ``raise`` raises ``FailpointError``,
as a client that loses its connection after the server acted would.
"""

from __future__ import annotations

import os
import signal

ENV = "METAXY_LAKE_FAILPOINT"
WRITE_BEFORE_DATA_FILES = "write.before_data_files"
WRITE_AFTER_DATA_FILES = "write.after_data_files"
"""The data files are written, the commit not yet made."""
WRITE_AFTER_COMMIT = "write.after_commit"


class FailpointError(RuntimeError):
    """Raised by a failpoint in ``raise`` mode."""


def failpoint(name: str) -> None:
    """Crash or raise here if ``METAXY_LAKE_FAILPOINT`` names this point."""
    setting = os.environ.get(ENV)
    if not setting:
        return
    point, _, action = setting.partition(":")
    if point != name:
        return
    if action == "raise":
        raise FailpointError(f"failpoint {name}")
    os.kill(os.getpid(), signal.SIGKILL)
