"""SGD updates in place, and outer products written out.

``W - lr * dot(x.T, delta)`` builds the gradient in a new matrix, then reads
it back to write the new W. PyTensor's own rewrites turn such an expression
into ``gemm(W, -lr, x.T, delta, 1)``, which adds into W where it lies, but
they are switched off for Numba, which has no code for that op. We switch
the two that make ``Dot22`` and ``Gemm`` back on for the Numba mode only, and
give both ops Numba code. At batch size 1, ``dot(x.T, delta)`` is an outer
product: BLAS computes it as a general product, clearing the output first,
where a plain loop writes each entry once (and adds into W, inside gemm).

Measured (docs/performance.md, levers 6 and 7, AMD EPYC, one thread, float32,
1000 x 1000): the SGD update ``W - 0.1 * x.T @ d`` 190 -> 47 us; the outer
product at batch size 1 104 -> 45 us.
"""
import numpy
from pytensor.compile.mode import optdb
from pytensor.graph.rewriting.basic import dfs_rewriter
from pytensor.graph.rewriting.db import SequenceDB
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.tensor.blas import Dot22, Gemm
from pytensor.tensor.rewriting.blas import GemmOptimizer, local_dot_to_dot22

from numba_speedups import numpy_blas
from numba_speedups._shared import key, njit


def numba_dot22(op, node, **kwargs):
    gemm_into, check_shapes = numpy_blas.gemm_into, numpy_blas.check_shapes

    @njit
    def dot22(x, y):
        out = numpy.empty((x.shape[0], y.shape[1]), dtype=x.dtype)
        check_shapes(out, x, y)
        if x.shape[1] != 1:
            gemm_into(out, 1.0, x, y, 0.0)
            return out
        for i in range(x.shape[0]):
            for j in range(y.shape[1]):
                out[i, j] = x[i, 0] * y[0, j]
        return out
    return dot22, key()


def numba_gemm(op, node, **kwargs):
    inplace = op.inplace
    gemm_into, add_product = numpy_blas.gemm_into, numpy_blas.add_product

    @njit
    def gemm(z, a, x, y, b):
        # b * z + a * dot(x, y); with inplace, written over z
        out = z if inplace else z.copy()
        alpha, beta = a.item(), b.item()
        if beta == 1:
            add_product(out, alpha, x, y)
        else:   # gemm_into checks the shapes
            gemm_into(out, float(alpha), x, y, float(beta))
        return out
    return gemm, key()


def install(patches):
    register = numba_basic.register_funcify_default_op_cache_key
    patches.funcify(register, Dot22, numba_dot22)
    patches.funcify(register, Gemm, numba_gemm)
    # PyTensor's own rewrites, tagged so that only the Numba mode runs them
    # (the C mode has its own, with more ops). Position 1.71: right after
    # where the C mode runs them. The in-place step that follows later,
    # gemm -> gemm_inplace, PyTensor already runs for every mode.
    rewrites = SequenceDB()
    rewrites.register("numba_dot_to_dot22", dfs_rewriter(local_dot_to_dot22), "numba",
                      position=0)
    rewrites.register("numba_gemm_optimizer", GemmOptimizer(), "numba", position=10)
    patches.rewrite(optdb, "numba_gemm", rewrites, "numba", position=1.71)
