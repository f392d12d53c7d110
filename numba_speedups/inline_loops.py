"""Elementwise loops with their scalar code inlined.

A loop is vectorised only when everything it calls has been inlined into it.
PyTensor's elementwise loop calls a wrapper that stores the result, which
calls the scalar function (for a fused graph, a Composite: one function per
node, each behind a wrapper of its own). LLVM inlines a callee only when it
is small, and in float64 our softplus (numba_speedups/vector_math.py, degree
13 and 11 polynomials) is not: the loop then made one call per element and
ran 5 times slower than NumPy. Here every link of that chain, the store
wrapper, the Composite and the wrappers inside it, is compiled with Numba's
``forceinline`` (LLVM's alwaysinline); each has one caller, so no code is
duplicated. Other graphs (a function's whole graph, reductions, products)
are left as they were.

The Composite's and the elementwise op's cache keys take in ours, so that
code compiled without the plug-in is never reused with it, nor the reverse.

Measured (docs/performance.md, "Elementwise", AMD EPYC, one thread), 20 x 784
float64: softplus 228 -> 38 us (NumPy 47), the dA's cross-entropy 472 -> 46 us
(NumPy 118); float32 unchanged (already inlined).
"""
import hashlib

from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.link.numba.dispatch import elemwise as numba_elemwise
from pytensor.link.numba.dispatch import scalar as numba_scalar
from pytensor.scalar.basic import Composite, ScalarOp
from pytensor.tensor.elemwise import Elemwise

from numba_speedups._shared import key, njit


def inlined(dispatcher):
    """The same Python function, compiled to be inlined into every caller."""
    options = {k: v for k, v in dispatcher.targetoptions.items() if k != "nopython"}
    options["forceinline"] = True
    return njit(dispatcher.py_func, **options)


def _ours(cache_key):
    if cache_key is None:           # PyTensor's "never cache": keep it so
        return None
    return hashlib.sha256(f"{cache_key} inline_loops {key()}".encode()).hexdigest()


def install(patches):
    stock_store = numba_elemwise.store_core_outputs
    stock_ensure_cache = numba_basic.numba_funcify_ensure_cache
    stock_composite = numba_scalar.numba_funcify_Composite
    stock_elemwise = numba_elemwise.numba_funcify_Elemwise

    def store_core_outputs(core_op_fn, *args, **kwargs):
        fn = stock_store(core_op_fn, *args, **kwargs)
        return fn if fn is core_op_fn else inlined(fn)   # fn is core_op_fn: it stores itself

    def ensure_cache(op, *args, **kwargs):
        # the wrapper PyTensor puts round each node's function in a graph;
        # only the scalar nodes of a Composite are inlined
        fn, cache_key = stock_ensure_cache(op, *args, **kwargs)
        if isinstance(op, ScalarOp) and hasattr(fn, "py_func"):
            fn = inlined(fn)
        return fn, cache_key

    def composite(op, node, **kwargs):
        fn, cache_key = stock_composite(op, node, **kwargs)
        return inlined(fn), _ours(cache_key)

    def elemwise(op, node, **kwargs):
        fn, cache_key = stock_elemwise(op, node, **kwargs)
        return fn, _ours(cache_key)

    patches.setattr(numba_elemwise, "store_core_outputs", store_core_outputs)
    patches.setattr(numba_basic, "numba_funcify_ensure_cache", ensure_cache)
    patches.funcify(numba_basic.register_funcify_and_cache_key, Composite, composite)
    patches.funcify(numba_basic.register_funcify_and_cache_key, Elemwise, elemwise)
