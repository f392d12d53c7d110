"""Transposes and added dimensions as views whose layout Numba knows.

Backpropagation multiplies by transposed weights (``W.T``) at every step.
PyTensor 3.0 builds each transpose with ``as_strided``, whose result Numba
can only type as "any layout", so ``np.dot`` copies the whole matrix before
calling BLAS; for a 1000 x 1000 matrix that copy costs far more than the
product itself (pytensor issue #1111). Numba's own ``x.T`` keeps the layout
known (a C-ordered array transposed is Fortran-ordered), so BLAS reads the
weights where they are.

The same "any layout" type cost more where a bias is added: ``x @ W + b``
broadcasts b as a 1 x n row made by PyTensor's ``as_strided``, and an
elementwise loop reading an array of unknown layout is not vectorised (its
innermost loop may stride anywhere). A DimShuffle that only adds or drops
dimensions of length one, keeping the others in order, is a reshape; of a
C-contiguous array, Numba's reshape is a C-contiguous view, and the loop
runs on vector instructions again.

Measured (docs/performance.md, lever 5 and "Elementwise"): the SdA's
fine-tuning step at batch size 1, whose backward pass multiplies by three
transposed 1000 x 1000 matrices, spent most of its time in those copies
before this change; sigmoid(a + b) for a 20 x 784 float32 a and a bias
vector b, 75.8 -> 7.5 us (the same with b given as a 1 x 784 row: 7.5 us).
"""
from numba.core import types
from numba.extending import overload
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.link.numba.dispatch import elemwise as numba_elemwise
from pytensor.tensor.elemwise import DimShuffle

from numba_speedups._shared import is_matrix_transpose, key, njit


def only_adds_or_drops_ones(op):
    """Whether the DimShuffle keeps its input's dimensions in order, adding or
    dropping only dimensions of length one: then it is a reshape."""
    kept = [o for o in op._new_order if o != -1]
    return op.input_ndim > 0 and len(op._new_order) > 0 and kept == sorted(kept)


def reshaping(op, node, general):
    """The DimShuffle as x.reshape for C-contiguous x (the choice is made when
    Numba types x), as PyTensor's general code otherwise."""
    new_order, drop = tuple(op._new_order), tuple(op.drop)
    template = (1,) * node.outputs[0].ndim

    @njit
    def as_reshape(x):
        shape = template
        for i, o in enumerate(new_order):
            if o != -1:
                shape = numba_basic.tuple_setitem(shape, i, x.shape[o])
        if drop:     # (an empty tuple cannot be iterated in Numba)
            for d in drop:
                if x.shape[d] != 1:
                    raise ValueError("DimShuffle: a dropped dimension is not of length one")
        return x.reshape(shape)

    def dimshuffle(x):
        raise NotImplementedError("compiled by Numba only")

    @overload(dimshuffle)
    def dimshuffle_overload(x):
        if isinstance(x, types.Array) and x.layout == "C":
            return lambda x: as_reshape(x)
        return lambda x: general(x)
    return dimshuffle


def install(patches):
    general_dimshuffle = numba_elemwise.numba_funcify_DimShuffle

    def numba_dimshuffle(op, node, **kwargs):
        if is_matrix_transpose(node):
            @njit
            def transpose(x):
                return x.T
            return transpose, key()
        general = general_dimshuffle(op, node, **kwargs)
        if only_adds_or_drops_ones(op):
            fn = general[0] if isinstance(general, tuple) else general
            return reshaping(op, node, fn), key()
        return general

    patches.funcify(numba_basic.register_funcify_default_op_cache_key, DimShuffle,
                    numba_dimshuffle)
