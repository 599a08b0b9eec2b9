"""Package scaffolding: importing tinytorch keeps freed memory in the process on glibc (what the
book's chapters got from MALLOC_* variables), never raises elsewhere, and leaves a MALLOC_*
variable the user set to glibc."""

import ctypes
import os
import subprocess
import sys

from tinytorch import _memory


def _run(code: str, **env) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**clean, **env},
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_keep_freed_memory_applies_every_setting_on_glibc_and_nothing_elsewhere():
    applied = _run("from tinytorch import _memory; print(sorted(_memory.keep_freed_memory().items()))")
    if _memory._glibc() is None:
        assert applied == "[]"
    else:
        assert applied == str(sorted((variable, True) for _, variable, _ in _memory.SETTINGS))


def test_a_malloc_variable_in_the_environment_wins():
    if _memory._glibc() is None:
        return
    applied = _run("from tinytorch import _memory; print(_memory.keep_freed_memory()['MALLOC_TOP_PAD_'])",
                   MALLOC_TOP_PAD_="0")
    assert applied == "False"


MMAPPED_BLOCKS = """
import ctypes, numpy as np
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
{imports}
before = libc.mallinfo2().hblks
block = np.ones(1 << 19)                    # 4 MiB: glibc's default maps it with mmap
print(libc.mallinfo2().hblks - before)
"""


def test_importing_tinytorch_serves_a_large_block_from_the_heap():
    """Observable effect of the import: a 4 MiB array is no longer a fresh mmap (numpy alone: it is)."""
    if _memory._glibc() is None or not hasattr(ctypes.CDLL(None), "mallinfo2"):
        return
    assert _run(MMAPPED_BLOCKS.format(imports="")) == "1"
    assert _run(MMAPPED_BLOCKS.format(imports="import tinytorch")) == "0"
