"""Minibatch slices that stay C-contiguous for Numba.

Every tutorial takes its minibatch as ``data_x[index * batch_size:(index + 1) *
batch_size]``. PyTensor's Numba code for that slice builds it as ``x[slice(start,
stop, None)]``; Numba cannot see that the step is one, types the result as
"any layout", and the elementwise loops that read the minibatch (the dA's mask
and cross-entropy) are then not vectorised. Written ``x[start:stop]``, the
same view of the same rows, Numba knows it is C-contiguous when ``x`` is.

Only a Subtensor whose one index is such a slice of the first dimension is
changed; every other indexing keeps PyTensor's code.

Measured (docs/performance.md, "Elementwise", AMD EPYC, one thread): the sum
of softplus over a 20 x 784 float32 minibatch sliced from a shared 1200 x 784
matrix 133.7 -> 14.3 us (the same over a 20 x 784 input: 14.2 us); the dA step,
batch 20, float32, 1.28 -> 1.09 ms.
"""
import hashlib

from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.tensor.subtensor import Subtensor
from pytensor.tensor.type import TensorType

from numba_speedups._shared import key, njit


def is_row_slice(op):
    """x[start:stop], each of start and stop a variable or left out."""
    return (len(op.idx_list) == 1 and isinstance(op.idx_list[0], slice)
            and op.idx_list[0].step is None)


def install(patches):
    registry = numba_basic.numba_funcify_and_cache_key
    before = registry.dispatch(Subtensor)

    def subtensor(op, node, **kwargs):
        if type(op) is not Subtensor or not is_row_slice(op):
            return before(op, node, **kwargs)
        bounds = op.idx_list[0]
        # the slice's variables follow x among the node's inputs, start first;
        # a 0-d tensor is read with .item(), as PyTensor's code does
        names = iter(node.inputs[1:])

        def bound(entry, name):
            if entry is None:
                return ""
            var = next(names)
            return f"{name}.item()" if isinstance(var.type, TensorType) else name
        start, stop = bound(bounds.start, "start"), bound(bounds.stop, "stop")
        arguments = ["x"] + [n for n, b in (("start", start), ("stop", stop)) if b]
        source = f"def rows({', '.join(arguments)}):\n    return x[{start}:{stop}]\n"
        env = {}
        exec(compile(source, "<numba_speedups.minibatch_slices>", "exec"), env)
        rows = njit(env["rows"])
        fn, cache_key = before(op, node, **kwargs)
        if cache_key is None:
            return rows, None
        return rows, hashlib.sha256(f"{cache_key} minibatch_slices {key()}".encode()).hexdigest()

    patches.funcify(numba_basic.register_funcify_and_cache_key, Subtensor, subtensor)
