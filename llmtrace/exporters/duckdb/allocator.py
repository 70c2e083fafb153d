"""The C library's allocator in the merger process: lean while it keeps up, quick when behind.

glibc serves a block of 128 KiB or more with pages of its own, given back when it is freed, and
raises that threshold to the size of each such block freed (up to 32 MiB); blocks under it
come from its heaps, which keep what was freed between blocks still in use. The nanoarrow
buffers of a chunk (hundreds of KiB to MiBs, grown by doubling) raised it at once, and the
heaps of the two threads that build and insert chunks kept what they had used: setting the
threshold turns the raising off. Measured, the merger's peak RSS after 100k @llm spans
(same run, medians of 6): 122.5 MiB as glibc has it, 116.5 with the threshold at 128 KiB.
Its pages cost a flood of files ~8% more of the merger's CPU (bench.store ingest, 3 x 61,440
spans, x3: 9.8-10.2 -> 10.9-11.8 s), so while files wait it is set high instead.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["LEAN_THRESHOLD", "QUICK_THRESHOLD", "set_threshold"]

_M_TRIM_THRESHOLD = -1  # mallopt's parameters
_M_MMAP_THRESHOLD = -3
LEAN_THRESHOLD = 128 * 1024  # glibc's default
QUICK_THRESHOLD = 32 * 1024 * 1024  # the most it raises itself to on 64-bit

_mallopt: list[Any] = []  # looked up once: [] not yet, [None] not glibc


def set_threshold(size: int) -> bool:
    """Serve blocks of ``size`` bytes or more with pages of their own, from now on, and give
    the heaps' free top back past twice that (what glibc pairs with the threshold it raises
    itself; a threshold set by hand leaves the trimming at 128 KiB, which gave back and took
    again the heap's top at every chunk of a flood). False: not glibc, nothing changed."""
    if not _mallopt:
        _mallopt.append(_lookup())
    mallopt = _mallopt[0]
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, size)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 * size))


def _lookup() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # another C library (musl has no mallopt)
        return None
