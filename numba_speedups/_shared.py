"""What several speed-ups use: Numba's jit as PyTensor calls it, the cache
key of our compiled code, and two questions about graph nodes."""
import hashlib
import os

from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.tensor.basic import get_underlying_scalar_constant_value
from pytensor.tensor.elemwise import DimShuffle
from pytensor.tensor.exceptions import NotScalarConstantError

njit = numba_basic.numba_njit

HERE = os.path.dirname(os.path.abspath(__file__))


def _source_key():
    # PyTensor's disk cache of compiled Numba code finds our functions by the
    # number we give it, not by their source: derive it from the source, so
    # that an edit here compiles them afresh instead of reusing old code
    digest = hashlib.sha256()
    for name in sorted(os.listdir(HERE)):
        if name.endswith(".py"):
            with open(os.path.join(HERE, name), "rb") as f:
                digest.update(name.encode() + f.read(1 << 20))
    return int(digest.hexdigest()[:12], 16)


SOURCE_KEY = _source_key()
# numpy_blas.install sets the last bit: the compiled code differs with and
# without NumPy's BLAS, and so must the keys
state = {"key": 2 * SOURCE_KEY}


def key():
    return state["key"]


def is_matrix_transpose(node):
    return (node is not None and isinstance(node.op, DimShuffle)
            and node.inputs[0].ndim == 2 and tuple(node.op.new_order) == (1, 0))


def is_one(var):
    try:
        return get_underlying_scalar_constant_value(var) == 1
    except NotScalarConstantError:
        return False
