"""Time-ordered write ids (UUIDv7 layout) and the write clock.

Python 3.11 has no ``uuid.uuid7``. Within one process ids and timestamps are strictly
increasing, so the live-row order (``metaxy_created_at``, ``metaxy_write_id``) never ties.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_last_us = 0


def new_write_id() -> str:
    """Return a new UUIDv7 text: 48-bit Unix milliseconds, a 12-bit counter, random bits."""
    global _last_ms, _counter
    with _lock:
        now_ms = dt.datetime.now(dt.UTC).timestamp() * 1000
        ms = max(int(now_ms), _last_ms)
        if ms == _last_ms:
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted within one millisecond: borrow the next
                ms, _counter = ms + 1, 0
        else:
            _counter = 0
        _last_ms = ms
        counter = _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


def now_utc() -> dt.datetime:
    """Return the current UTC time in microseconds, strictly increasing in this process."""
    global _last_us
    with _lock:
        us = max(int(dt.datetime.now(dt.UTC).timestamp() * 1_000_000), _last_us + 1)
        _last_us = us
    return dt.datetime.fromtimestamp(us / 1_000_000, dt.UTC)
