"""Freed arrays kept in the process's heap for the next step.

Numba allocates every array a compiled function makes through the C
library's malloc. By default glibc serves a block over 128 KiB (a threshold
it raises, up to 32 MiB, as big blocks are freed) straight from the kernel
with mmap and unmaps it on free, and hands the free top of its heap back
once more than twice that threshold lies there. LeNet's step makes and
frees arrays of up to 23 MB (46 MB in float64, over the 32 MiB ceiling),
so every step asked the kernel for fresh, zeroed pages again: 15,400 page
faults a step in float32, 38,400 in float64; none with this module.

Here glibc is told to serve every block from its heap (no mmap) and to keep
up to 128 MiB free at the heap's top, so the next step writes into the same
pages. The price is memory the process keeps: LeNet's peak 524 -> 548 MB
in float32, 830 -> 939 MB in float64. Only on glibc (Linux); elsewhere, or
where glibc refuses a value, this module does nothing. ``uninstall()`` sets
glibc's starting values back; glibc's sliding of its thresholds stays off
until the process ends (mallopt cannot turn it back on).

Measured (docs/performance.md, "Memory", AMD EPYC, 2 cores): an epoch of
convolutional_mlp.py 11.8-12.2 -> 9.3-9.5 s in float32, 21.3-22.0 ->
14.5-15.2 s in float64; its step alone (bench/levers.py, item 14) 112.5 ->
83.2 ms in float32, 192.1 -> 126.2 ms in float64.
"""
import ctypes

# <malloc.h>
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
# glibc's starting values (mallopt(3))
DEFAULTS = {M_TRIM_THRESHOLD: 128 * 1024, M_MMAP_THRESHOLD: 128 * 1024, M_MMAP_MAX: 65536}
KEEP = 128 * 1024 * 1024


def glibc():
    """The C library if it is glibc (it has gnu_get_libc_version), else None."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version       # glibc's own: musl and others lack it
        libc.mallopt
    except (OSError, AttributeError, TypeError):    # TypeError: Windows wants a name
        return None
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    return libc


def set_thresholds(libc, values):
    """True if glibc took every value."""
    return all(libc.mallopt(option, value) == 1 for option, value in values.items())


def install(patches):
    libc = glibc()
    if libc is None:
        return
    if not set_thresholds(libc, {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: KEEP}):
        set_thresholds(libc, DEFAULTS)      # a glibc that refuses: leave it as it starts
        return
    patches.on_undo(lambda: set_thresholds(libc, DEFAULTS))
