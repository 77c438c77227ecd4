"""glibc's allocator: keep freed memory for reuse in short-lived command processes."""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["keep_freed_memory"]


def keep_freed_memory() -> bool:
    """Keep freed memory in the process for reuse (glibc) instead of handing it back at once.

    glibc returns every freed block over its threshold (at most 32 MiB, usually far less) to
    the kernel; a model's forward pass allocates and frees such blocks at every layer, and
    each new one costs a page fault per 4 KiB page: measured half of ``predict``'s time was
    system time on a 2-core CPU (benchmarks/bench_cli.py). Raising both thresholds to 1 GiB
    keeps the memory until the process ends. Only for short-lived command processes (the
    process stays at its peak memory); not done when the user set a ``MALLOC_*`` or
    ``GLIBC_TUNABLES`` variable, nor off glibc.

    Returns:
        Whether the setting took.
    """
    if not sys.platform.startswith("linux") or any(
        name.startswith("MALLOC_") or name == "GLIBC_TUNABLES" for name in os.environ
    ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold, size = -1, -3, 1 << 30  # glibc's <malloc.h>
    return bool(mallopt(m_mmap_threshold, size)) and bool(mallopt(m_trim_threshold, size))
