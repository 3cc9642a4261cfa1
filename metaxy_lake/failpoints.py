"""Named failpoints for crash tests: ``METAXY_LAKE_FAILPOINT=<name>[:kill|:raise]``.

Off by default; the variable is read only where a failpoint sits. ``kill`` (the default)
SIGKILLs the process on the spot, as a crash would; ``raise`` raises ``FailpointError``,
as a client that loses its connection after the server acted would.
"""

from __future__ import annotations

import os
import signal

ENV = "METAXY_LAKE_FAILPOINT"
WRITE_BEFORE_COMMIT = "write.before_commit"
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
