"""Keep freed memory in the process, so NumPy's temporaries are not page-faulted in again and again.

NumPy allocates every temporary afresh. By default glibc hands a large freed block straight
back to the operating system, and the next temporary of that size faults its pages in
again, zero-filled by the kernel: in a training step that is mostly small matrices, a
large share of the time. ``keep_freed_memory()`` asks glibc (``mallopt``) to serve blocks up
to 256 MiB from its own heap and to keep up to 512 MiB of freed memory, the settings the
book's chapters always ran with (as ``MALLOC_*`` environment variables, which glibc reads
only when a process starts). Importing tinytorch calls it, so a reader's own script gets
the same speed as the chapters with plain ``python``.

Only on glibc (Linux); anywhere else, or if the C library cannot be reached, nothing
happens. A ``MALLOC_*`` variable set in the environment wins over the value here.
Standard library only (``ctypes``): tinytorch still depends on NumPy alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

# mallopt parameters (glibc's <malloc.h>), the environment variable each one mirrors, and the value.
SETTINGS = (
    (-3, "MALLOC_MMAP_THRESHOLD_", 256 << 20),   # M_MMAP_THRESHOLD: blocks below this come from the heap
    (-1, "MALLOC_TRIM_THRESHOLD_", 512 << 20),   # M_TRIM_THRESHOLD: free memory kept before trimming
    (-2, "MALLOC_TOP_PAD_", 64 << 20),           # M_TOP_PAD: extra heap claimed with each growth
)


def _glibc():
    """The running C library if it is glibc, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        version = libc.gnu_get_libc_version    # glibc only: musl and others lack it
        libc.mallopt                           # noqa: B018  (present, else AttributeError)
    except (OSError, AttributeError):
        return None
    version.restype = ctypes.c_char_p
    return libc


def keep_freed_memory() -> dict[str, bool]:
    """Apply :data:`SETTINGS` through glibc's ``mallopt``; returns which ones were applied.

    A setting whose environment variable is set is left to glibc, which already read it.
    Returns an empty dict where the C library is not glibc.
    """
    libc = _glibc()
    if libc is None:
        return {}
    applied = {}
    for parameter, variable, value in SETTINGS:
        if variable in os.environ:
            applied[variable] = False
            continue
        applied[variable] = bool(libc.mallopt(ctypes.c_int(parameter), ctypes.c_int(value)))
    return applied
