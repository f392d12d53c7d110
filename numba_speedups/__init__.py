"""Speed-ups for PyTensor's Numba backend: an explicit plug-in, not a lesson.

The tutorials in code/ run on stock PyTensor. Their command lines call
``install()`` once, in ``main()``, before anything is compiled; that swaps in
faster implementations for a few of PyTensor's ops and adds a few graph
rewrites. None of them changes what a graph computes, only how (tanh, the
sigmoid and softplus to within rounding: a few ulps). Importing this package changes nothing; neither does
``from utils import load_data`` in a notebook.

One module per speed-up, each with its measured gain in its docstring:

    numpy_blas        products through the newer OpenBLAS in NumPy's wheel
    transpose         transposes as views, so BLAS reads weights where they lie,
                      and biases broadcast as views Numba knows are C-contiguous
    inplace_gemm      SGD updates written into W; outer products as loops
    fused_backprop    one pass over W for backpropagation and the update
    merged_gemms      the dA's two weight terms in one gemm
    vector_math       tanh, the sigmoid and softplus in plain arithmetic, so
                      that the loops around them run on vector instructions
    inline_loops      elementwise loops with all their scalar code inlined
    merged_dims       elementwise loops over many dimensions as fewer, longer
                      ones (LeNet's 4-d arrays)
    minibatch_slices  minibatch slices that Numba knows are C-contiguous
    llvm_o2           LLVM at -O2 instead of -O3 (faster first compile)
    small_reductions  sums, maxima and argmax along one axis as plain loops
    conv              compiled loops for the LeNet chapter's convolution and pooling
    heap_reuse        freed arrays kept in the heap for the next step (glibc's
                      malloc settings; LeNet's big arrays)

Switch them off with ``DLT_SPEEDUPS=0`` in the environment or a script's
``--no-speedups`` flag; ``DLT_SPEEDUPS_EXCLUDE=inline_loops,conv`` leaves out
the modules it names (to measure what one of them gives). ``install()``
checks the versions of PyTensor, NumPy and Numba it was written for; outside
them, or on any error while installing, it prints one warning on stderr and
leaves PyTensor as it was.
It sets no environment variable; heap_reuse changes two of glibc's malloc
settings for the whole process (uninstall() puts glibc's starting values back),
and conv sets NumPy's OpenBLAS to one thread while a function with a
convolution runs (its count put back after the call).
"""
import importlib
import importlib.metadata
import os
import re
import sys

# (lowest, first excluded): the releases these speed-ups were written and tested for
WRITTEN_FOR = {
    "pytensor": ((3, 0, 7), (3, 1)),
    "numpy": ((2, 4), (2, 5)),
    "numba": ((0, 65), (0, 66)),
}

# in this order: the products of inplace_gemm and fused_backprop call numpy_blas
MODULES = ["numpy_blas", "transpose", "inplace_gemm", "fused_backprop", "merged_gemms",
           "vector_math", "inline_loops", "merged_dims", "minibatch_slices", "llvm_o2",
           "small_reductions", "conv", "heap_reuse"]

_installed = None    # the Patches of the current installation
_warned = False


def _version_tuple(text):
    """'3.0.7' -> (3, 0, 7); '2.4.0rc1' -> (2, 4, 0)."""
    return tuple(int(n) for n in re.findall(r"\d+", re.match(r"[\d.]*", text).group()))


def version_problem():
    """None if every library is in its range, else one sentence saying which is not."""
    for name, (low, high) in WRITTEN_FOR.items():
        try:
            found = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return f"{name} is not installed"
        if not low <= _version_tuple(found) < high:
            wanted = ".".join(map(str, low)) + " up to (not including) " + ".".join(map(str, high))
            return f"written for {name} {wanted}, found {found}"
    return None


def _warn(message):
    global _warned
    if not _warned:
        print(f"warning: numba_speedups: {message}; running on stock PyTensor",
              file=sys.stderr, flush=True)
        _warned = True


def switched_off_by_environment():
    return os.environ.get("DLT_SPEEDUPS", "1").strip().lower() in ("0", "no", "off", "false")


def install(enabled=True):
    """Install every speed-up, or none. Returns True when they are installed.

    enabled=False, or DLT_SPEEDUPS=0 in the environment, installs nothing.
    Safe to call twice; ``uninstall()`` undoes it.
    """
    global _installed
    if not enabled or switched_off_by_environment():
        return False
    if _installed is not None:
        return True
    problem = version_problem()
    if problem is not None:
        _warn(problem)
        return False
    try:
        from numba_speedups._patches import Patches
        patches = Patches()
        excluded = {n.strip() for n in os.environ.get("DLT_SPEEDUPS_EXCLUDE", "").split(",")}
        unknown = excluded - set(MODULES) - {""}
        if unknown:
            raise ValueError(f"DLT_SPEEDUPS_EXCLUDE names no module {', '.join(sorted(unknown))}")
        try:
            for name in [m for m in MODULES if m not in excluded]:
                importlib.import_module(f"numba_speedups.{name}").install(patches)
        except BaseException:
            patches.undo()
            raise
    except KeyboardInterrupt:
        raise
    except Exception as e:   # an attribute renamed in another release, and the like
        _warn(f"could not install them ({type(e).__name__}: {e})")
        return False
    _installed = patches
    return True


def uninstall():
    """Put PyTensor back as it was before install()."""
    global _installed
    if _installed is not None:
        _installed.undo()
        _installed = None


def installed():
    return _installed is not None
