"""Speed fixes for PyTensor 3.0's Numba backend (its default mode).

Importing this module is all it takes; ``utils`` does, so every script gets
them. None of them changes what a graph computes, only how three kinds of
matrix product are carried out. The performance page of the docs has the
measurements behind each, and ``tests/test_numba_fixes.py`` checks them.

1. Transposes as views. Backpropagation multiplies by transposed weights
   (``W.T``) at every step. PyTensor 3.0 builds each transpose with
   ``as_strided``, whose result Numba can only type as "any layout", so
   ``np.dot`` copies the whole matrix before calling BLAS; for a 1000 x 1000
   matrix that copy costs far more than the product itself (pytensor issue
   #1111). Numba's own ``x.T`` keeps the layout known (a C-ordered array
   transposed is Fortran-ordered), and BLAS reads the weights where they are.

2. SGD updates in place. ``W - lr * dot(x.T, delta)`` builds the gradient in a
   new matrix, then reads it back to write the new W. PyTensor's own rewrites
   turn such an expression into ``gemm(W, -lr, x.T, delta, 1)``, which adds
   into W where it lies, but they are switched off for Numba because Numba has
   no implementation of that op. We switch them back on for Numba (only the
   two that make ``Dot22`` and ``Gemm``) and give both ops an implementation.

3. Outer products written out. At batch size 1, ``dot(x.T, delta)`` is an
   outer product. BLAS computes it as a general matrix product, clearing the
   output first; a plain loop writes each entry once, and inside ``gemm`` it
   adds into W without any temporary matrix.
"""
import numpy

try:
    from pytensor.compile.mode import optdb
    from pytensor.graph.rewriting.basic import dfs_rewriter
    from pytensor.graph.rewriting.db import SequenceDB
    from pytensor.link.numba.dispatch import basic as numba_basic
    from pytensor.link.numba.dispatch import elemwise as numba_elemwise
    from pytensor.tensor.blas import Dot22, Gemm
    from pytensor.tensor.elemwise import DimShuffle
    from pytensor.tensor.rewriting.blas import GemmOptimizer, local_dot_to_dot22
    AVAILABLE = True
except (ImportError, AttributeError):   # no Numba, or a PyTensor laid out otherwise
    AVAILABLE = False

# The numbers below key PyTensor's on-disk cache of compiled Numba code:
# change one whenever its function changes, or the old code is reused.
CACHE_VERSION = 1


if AVAILABLE:
    njit = numba_basic.numba_njit
    general_dimshuffle = numba_elemwise.numba_funcify_DimShuffle

    # 1. Transposes as views
    @numba_basic.register_funcify_default_op_cache_key(DimShuffle)
    def numba_dimshuffle(op, node, **kwargs):
        if node.inputs[0].ndim == 2 and tuple(op.new_order) == (1, 0):
            @njit
            def transpose(x):
                return x.T
            return transpose, 100 + CACHE_VERSION
        return general_dimshuffle(op, node, **kwargs)

    # 2. and 3. A matrix product, and W + alpha * dot(x, y) added into W
    @numba_basic.register_funcify_default_op_cache_key(Dot22)
    def numba_dot22(op, node, **kwargs):
        @njit
        def dot22(x, y):
            if x.shape[1] != 1:
                return numpy.dot(x, y)
            outer = numpy.empty((x.shape[0], y.shape[1]), dtype=x.dtype)
            for i in range(x.shape[0]):
                for j in range(y.shape[1]):
                    outer[i, j] = x[i, 0] * y[0, j]
            return outer
        return dot22, 100 + CACHE_VERSION

    @numba_basic.register_funcify_default_op_cache_key(Gemm)
    def numba_gemm(op, node, **kwargs):
        inplace = op.inplace

        @njit
        def gemm(z, a, x, y, b):
            # b * z + a * dot(x, y); with inplace, written over z
            out = z if inplace else z.copy()
            alpha, beta = a.item(), b.item()
            if x.shape[1] == 1 and beta == 1:
                for i in range(out.shape[0]):
                    for j in range(out.shape[1]):
                        out[i, j] += alpha * (x[i, 0] * y[0, j])
                return out
            product = numpy.dot(x, y)
            for i in range(out.shape[0]):
                for j in range(out.shape[1]):
                    if beta == 0:   # z may hold anything, even NaN: ignore it
                        out[i, j] = alpha * product[i, j]
                    else:
                        out[i, j] = beta * out[i, j] + alpha * product[i, j]
            return out
        return gemm, 100 + CACHE_VERSION

    # PyTensor's own rewrites, tagged so that only the Numba mode runs them
    # (the C mode has its own, with more ops). Position 1.71: right after
    # where the C mode runs them. The in-place step that follows later,
    # gemm -> gemm_inplace, PyTensor already runs for every mode.
    _gemm_rewrites = SequenceDB()
    _gemm_rewrites.register("numba_dot_to_dot22", dfs_rewriter(local_dot_to_dot22),
                            "numba", position=0)
    _gemm_rewrites.register("numba_gemm_optimizer", GemmOptimizer(), "numba",
                            position=10)
    optdb.register("numba_gemm", _gemm_rewrites, "numba", position=1.71)
