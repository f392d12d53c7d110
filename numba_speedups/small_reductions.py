"""Less for Numba to compile: sums, maxima and argmax along one axis of a
matrix, and arrays of one value, as plain loops.

PyTensor writes one piece of code for a sum or a maximum along any axes of an
array of any rank and layout: it sorts the strides, transposes by the
permutation it found, and checks shapes with error messages that print them.
On a first run Numba compiles all of that library code (sorting, hashing,
turning numbers into strings), several seconds of it, and the same again for
argmax and for the array of zeros the gradient of an indexing starts from.
The tutorials only ever reduce a matrix along one axis (a bias's gradient,
the cost per example, the softmax's largest entry, the predicted class), and
for a matrix two loops do it. Ours are PyTensor's own loops, in the same
order, so the sums come out the same to the last bit.

Measured (docs/performance.md, "First compile", AMD EPYC, commit 6e8ae40):
first compile of the SdA 33.5 -> 26.9 s, logistic regression 23.4 -> 15.8 s,
MLP 25.6 -> 21.6 s, dA 14.5 -> 10.8 s (means of three runs); no change in
step time.
"""
import numpy
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.link.numba.dispatch import elemwise as numba_elemwise
from pytensor.link.numba.dispatch import tensor_basic as numba_tensor_basic
from pytensor.scalar.basic import Add, Maximum
from pytensor.tensor.basic import Alloc
from pytensor.tensor.elemwise import CAReduce
from pytensor.tensor.math import Argmax

from numba_speedups._shared import key, njit


@njit
def add(total, value):
    return total + value


@njit
def maximum(largest, value):
    # PyTensor's comparison: a NaN is never larger, so it is passed over
    return value if largest < value else largest


def install(patches):
    general_careduce = numba_elemwise.numba_funcify_CAReduce
    general_argmax = numba_elemwise.numba_funcify_Argmax
    general_alloc = numba_tensor_basic.numba_funcify_Alloc

    def numba_careduce(op, node, **kwargs):
        combine = {Add: add, Maximum: maximum}.get(type(op.scalar_op))
        if combine is None or node.inputs[0].ndim != 2 or len(op.axis or ()) != 1:
            return general_careduce(op, node, **kwargs)
        keep = 1 - op.axis[0] % 2          # the axis that remains
        out = numpy.dtype(node.outputs[0].type.dtype)
        acc = numpy.dtype(getattr(op, "acc_dtype", None) or out)
        start = acc.type(op.scalar_op.identity)
        same_type = acc == out

        @njit(boundscheck=False)
        def reduce_one_axis(x):
            result = numpy.empty(x.shape[keep], dtype=acc)
            result[:] = start
            # the same loops as PyTensor's, which walk x in memory order, so
            # that LLVM splits the same sums into the same partial sums and
            # the results agree to the last bit
            if x.flags.c_contiguous or abs(x.strides[0]) > abs(x.strides[1]):
                for i in range(x.shape[0]):
                    for j in range(x.shape[1]):
                        k = i if keep == 0 else j
                        result[k] = combine(result[k], x[i, j])
            else:
                x = x[:, :]    # PyTensor reads such an x through a view of no known layout
                for j in range(x.shape[1]):
                    for i in range(x.shape[0]):
                        k = i if keep == 0 else j
                        result[k] = combine(result[k], x[i, j])
            # astype copies even to the same type: only where the type changes
            return result if same_type else result.astype(out)
        return reduce_one_axis, f"{type(op.scalar_op).__name__}-{keep}-{acc}-{out}-{key()}"

    def numba_argmax(op, node, **kwargs):
        if node.inputs[0].ndim != 2 or len(op.axis or ()) != 1:
            return general_argmax(op, node, **kwargs)
        if op.axis[0] % 2 == 1:
            @njit
            def argmax_one_axis(x):
                result = numpy.empty(x.shape[0], dtype=numpy.int64)
                for i in range(x.shape[0]):
                    result[i] = numpy.argmax(x[i])
                return result
        else:
            @njit
            def argmax_one_axis(x):
                result = numpy.empty(x.shape[1], dtype=numpy.int64)
                for j in range(x.shape[1]):
                    result[j] = numpy.argmax(x[:, j])
                return result
        return argmax_one_axis, key()

    def numba_alloc(op, node, **kwargs):
        value, *shape = node.inputs
        dtype = numpy.dtype(node.outputs[0].type.dtype)
        # only one value to spread: a scalar, or an array whose every dimension is 1
        if any(size != 1 for size in value.type.shape) or len(shape) not in (1, 2):
            return general_alloc(op, node, **kwargs)
        if len(shape) == 1:
            @njit
            def fill(value, n):
                return numpy.full(n.item(), value.item(), dtype=dtype)
        else:
            @njit
            def fill(value, m, n):
                return numpy.full((m.item(), n.item()), value.item(), dtype=dtype)
        return fill, f"fill-{len(shape)}-{dtype}-{key()}"

    patches.funcify(numba_basic.register_funcify_and_cache_key, CAReduce, numba_careduce)
    patches.funcify(numba_basic.register_funcify_default_op_cache_key, Argmax, numba_argmax)
    patches.funcify(numba_basic.register_funcify_and_cache_key, Alloc, numba_alloc)
