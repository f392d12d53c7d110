"""Softplus without branches.

PyTensor turns the dA's cross-entropy, ``x * log(sigmoid(a)) + (1 - x) *
log(1 - sigmoid(a))``, into its stable form ``-x * softplus(-a) - (1 - x) *
softplus(a)``, and its Numba code for softplus picks one of four formulas per
element; on real activations that branch is hard to predict.
``softplus(x) = max(x, 0) + log1p(exp(-|x|))`` is as accurate for every x
(within one float32 ulp of NumPy's logaddexp, the same in float64) and has
no branch. It moves the dA's printed costs in their last digits; its
gradient, the sigmoid, does not use it, so training is the same.

Measured (docs/performance.md, lever 8, AMD EPYC, one thread, float32,
20 x 784): one softplus 258.9 -> 156.9 us; the dA's cross-entropy (two
softplus) 460.5 -> 168.6 us.
"""
import numpy
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.link.numba.dispatch import scalar as numba_scalar
from pytensor.scalar.math import Softplus

from numba_speedups._shared import key, njit


def install(patches):
    general_softplus = numba_scalar.numba_funcify_Softplus
    cache_key = numba_scalar.scalar_op_cache_key

    def numba_softplus(op, node, **kwargs):
        dtype = node.inputs[0].type.dtype
        if not dtype.startswith("float"):    # PyTensor's own code handles ints
            return general_softplus(op, node, **kwargs)
        zero = numpy.dtype(dtype).type(0)

        @njit
        def branchless_softplus(x):
            return max(x, zero) + numpy.log1p(numpy.exp(-abs(x)))
        return branchless_softplus, cache_key(op, cache_version=key(), dtype=dtype)

    patches.funcify(numba_basic.register_funcify_and_cache_key, Softplus, numba_softplus)
