"""Time-ordered write ids (UUIDv7 layout) and the write clock.

Python 3.11 has no ``uuid.uuid7``. Within one process, on the system clock, ids and
timestamps are strictly increasing, so the live-row order (``metaxy_created_at``,
``metaxy_write_id``) never ties there; across processes (serverless bursts) it can, and
the write id breaks the tie. ``now_utc(after=...)`` never returns a time at or before
``after``: writers stamp after the newest commit they saw, whatever their clocks say
(docs/on-disk-format.md, section 5). ``use_clock`` replaces the clock, as tests and
replays need: its times are stamped exactly as given, ties included.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from metaxy_lake.errors import ConfigError
from metaxy_lake.failpoints import clock_offset

Clock = Callable[[], dt.datetime]
"""A source of aware datetimes."""

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_last_us = 0
_clock: list[Clock] = []
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@contextmanager
def use_clock(clock: Clock) -> Iterator[None]:
    """Stamp writes with ``clock()`` instead of the system clock inside a ``with`` block.

    Args:
        clock: Returns aware datetimes; they are stamped as given (truncated to
            microseconds), so two writes may share a time.

    Example:
        >>> at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        >>> with use_clock(lambda: at):
        ...     now_utc() == at
        True
    """
    _clock.append(clock)
    try:
        yield
    finally:
        _clock.remove(clock)


def _now() -> dt.datetime:
    if _clock:
        when = _clock[-1]()
        if when.tzinfo is None:
            raise ConfigError(
                f"the clock given to use_clock returned a naive datetime {when!r}: return "
                "aware datetimes (tzinfo=datetime.UTC)"
            )
        return when.astimezone(dt.UTC)
    return _system_now()


def _system_now() -> dt.datetime:
    """The system clock, off by the tests' ``METAXY_LAKE_CLOCK_OFFSET_S`` when it is set."""
    return dt.datetime.now(dt.UTC) + clock_offset()


def _micros(when: dt.datetime) -> int:
    return (when - _EPOCH) // dt.timedelta(microseconds=1)


def new_write_id() -> str:
    """Return a new UUIDv7 text: 48-bit Unix milliseconds, a 12-bit counter, random bits."""
    global _last_ms, _counter
    with _lock:
        ms = max(int(_now().timestamp() * 1000), _last_ms)
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


def now_utc(after: dt.datetime | None = None) -> dt.datetime:
    """Return the current UTC time in microseconds, later than ``after``.

    On the system clock it is strictly increasing in this process, and later than
    ``after`` (the newest stamp a writer saw) by at least a microsecond, however far
    behind the clock is; the process's later times stay after it too. An injected
    clock's times are returned as given, ``after`` ignored.

    Args:
        after: A time the result must follow (None: only the process's own times).
    """
    global _last_us
    if _clock:
        return _now()
    with _lock:
        floor = _last_us if after is None else max(_last_us, _micros(after))
        us = max(_micros(_system_now()), floor + 1)
        _last_us = us
    return _EPOCH + dt.timedelta(microseconds=us)
