"""Transposes as views.

Backpropagation multiplies by transposed weights (``W.T``) at every step.
PyTensor 3.0 builds each transpose with ``as_strided``, whose result Numba
can only type as "any layout", so ``np.dot`` copies the whole matrix before
calling BLAS; for a 1000 x 1000 matrix that copy costs far more than the
product itself (pytensor issue #1111). Numba's own ``x.T`` keeps the layout
known (a C-ordered array transposed is Fortran-ordered), so BLAS reads the
weights where they are.

Measured (docs/performance.md, levers 5): the SdA's fine-tuning step at batch
size 1, whose backward pass multiplies by three transposed 1000 x 1000
matrices, spent most of its time in those copies before this change.
"""
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.link.numba.dispatch import elemwise as numba_elemwise
from pytensor.tensor.elemwise import DimShuffle

from numba_speedups._shared import is_matrix_transpose, key, njit


def install(patches):
    general_dimshuffle = numba_elemwise.numba_funcify_DimShuffle

    def numba_dimshuffle(op, node, **kwargs):
        if is_matrix_transpose(node):
            @njit
            def transpose(x):
                return x.T
            return transpose, key()
        return general_dimshuffle(op, node, **kwargs)

    patches.funcify(numba_basic.register_funcify_default_op_cache_key, DimShuffle,
                    numba_dimshuffle)
