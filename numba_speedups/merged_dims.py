"""Elementwise loops over arrays of two or more dimensions run as loops over
fewer, longer dimensions (where it matters: LeNet's 3- and 4-d arrays).

PyTensor's elementwise loop is a nest of one loop per dimension, and only the
innermost one runs on vector instructions. LeNet's arrays end in rows of 12,
8 or 4 numbers (500 x 20 x 12 x 12 after the first pooling), shorter than or
not a multiple of the 16 floats of an AVX-512 register, so most of the work
ran in the loop's scalar remainder: 1.3 to 3.5 times NumPy's time.

Where every input is C-contiguous (Numba knows that from the arrays' types,
before anything runs), two neighbouring dimensions can be read as one
whenever each input either has both or broadcasts over both: 500 x 20 x 12 x
12 plus a bias of shape 1 x 20 x 1 x 1 is 500 x 20 x 144 plus 1 x 20 x 1. The
inputs are reshaped (views, nothing copied), PyTensor's own loop for the
fewer dimensions does the work, and its result is reshaped back. Arrays that
are not C-contiguous (a transpose, a strided slice) take PyTensor's loop as
it was. A matrix with a bias row (20 x 784 plus 1 x 784) has nothing to merge;
two matrices of the same shape become one row.

Measured (docs/performance.md, "Elementwise", AMD EPYC, one thread): float32
tanh of 500 x 20 x 12 x 12 numbers 1845 -> 640 us (NumPy 527 to 644 in the
same runs); every elementwise kernel of lever 8 on that shape within 1.4 of
NumPy's time.
"""
import hashlib
import math

from numba.core import types
from numba.extending import overload
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.type import TensorType

from numba_speedups._shared import key


def groups_of(patterns):
    """Runs of neighbouring dimensions that every input's broadcast pattern
    treats alike, e.g. ((F, F, F, F), (T, F, T, T)) -> [[0], [1], [2, 3]]."""
    groups = [[0]]
    for d in range(1, len(patterns[0])):
        if all(p[d] == p[d - 1] for p in patterns):
            groups[-1].append(d)
        else:
            groups.append([d])
    return groups


def all_c_contiguous(numba_types):
    return all(isinstance(t, types.Array) and t.layout == "C" for t in numba_types)


def _merged_type(var, groups):
    shape = []
    for g in groups:
        sizes = [var.type.shape[d] for d in g]
        shape.append(None if None in sizes else math.prod(sizes))
    return TensorType(var.type.dtype, shape=tuple(shape))


def _source(groups, nin, nout, patterns):
    """The reshape to fewer dimensions, the call, and the reshape back."""
    lines = ["def merged_call(*inputs):"]
    for i in range(nin):
        dims = ", ".join(" * ".join(f"inputs[{i}].shape[{d}]" for d in g) for g in groups)
        lines.append(f"    m{i} = inputs[{i}].reshape(({dims},))")
    lines.append(f"    r = merged({', '.join(f'm{i}' for i in range(nin))})")
    # each output dimension has the size of an input that does not broadcast there
    sizes = []
    for d in range(len(patterns[0])):
        owner = next((i for i, p in enumerate(patterns) if not p[d]), None)
        sizes.append("1" if owner is None else f"inputs[{owner}].shape[{d}]")
    shape = f"({', '.join(sizes)},)"
    if nout == 1:
        lines.append(f"    return r.reshape({shape})")
    else:
        lines.append(f"    return ({', '.join(f'r[{k}].reshape({shape})' for k in range(nout))},)")
    return "\n".join(lines) + "\n"


def install(patches):
    registry = numba_basic.numba_funcify_and_cache_key
    before = registry.dispatch(Elemwise)       # PyTensor's, or inline_loops' round it

    def elemwise(op, node, **kwargs):
        fn, cache_key = before(op, node, **kwargs)
        patterns = [inp.type.broadcastable for inp in node.inputs]
        if type(op) is not Elemwise or node.outputs[0].ndim < 2:
            return fn, cache_key
        groups = groups_of(patterns)
        if len(groups) == len(patterns[0]):
            return fn, cache_key                  # nothing to merge
        try:
            merged_node = op.make_node(*[_merged_type(inp, groups)() for inp in node.inputs])
            merged, merged_key = before(op, merged_node, **kwargs)
        except Exception:       # an op that will not take the fewer dimensions
            return fn, cache_key
        env = {"merged": merged}
        exec(compile(_source(groups, len(node.inputs), len(node.outputs), patterns),
                     "<numba_speedups.merged_dims>", "exec"), env)
        merged_call = env["merged_call"]

        def dispatch(*inputs):
            raise NotImplementedError("compiled by Numba only")

        @overload(dispatch)
        def dispatch_overload(*inputs):
            # typing time: the arrays' types say whether they are C-contiguous
            if all_c_contiguous(inputs):
                return merged_call
            return lambda *inputs: fn(*inputs)
        dispatch.merged_groups = groups            # for the tests

        if cache_key is None or merged_key is None:
            return dispatch, None
        return dispatch, hashlib.sha256(
            f"{cache_key} {merged_key} merged_dims {groups} {key()}".encode()).hexdigest()

    patches.funcify(numba_basic.register_funcify_and_cache_key, Elemwise, elemwise)
