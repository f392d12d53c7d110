"""One pass over W for both uses of it in backpropagation.

A hidden layer's backward step reads its weights twice: once for
``delta @ W.T`` (the error handed to the layer below) and once more for the
in-place update ``W += -lr * x.T @ delta``. At batch size 1 the weights hardly
fit in the cache and each pass costs as much as reading them from memory, so
one op computes both in one sweep, row by row: row i of W gives entry i of
``delta @ W.T`` and is updated right after it is read. Each row is read
before it is changed, so the result is the one the graph asks for.

Measured (docs/performance.md, lever 10, AMD EPYC, one thread, float32): a
1000 x 1000 layer's backward step at batch size 1, 96 -> 52 us; the SdA's
fine-tuning step 0.405 -> 0.294 ms.
"""
import numpy
from pytensor.compile.mode import optdb
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import GraphRewriter
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.tensor.blas import Dot22, Gemm
from pytensor.tensor.type import TensorType

from numba_speedups import numpy_blas
from numba_speedups._shared import is_matrix_transpose, is_one, key, njit


class GemmAndBackprop(Op):
    """Takes (W, alpha, x, delta); returns W + alpha * x @ delta, written
    over W, and delta @ W.T computed with W as it was before."""
    __props__ = ()
    destroy_map = {0: [0]}

    def make_node(self, W, alpha, x, delta):
        back = TensorType(W.type.dtype, shape=(delta.type.shape[0], W.type.shape[0]))
        return Apply(self, [W, alpha, x, delta], [W.type(), back()])

    def perform(self, node, inputs, outputs):
        W, alpha, x, delta = inputs
        outputs[1][0] = delta @ W.T
        W += alpha * (x @ delta)
        outputs[0][0] = W


gemm_and_backprop_op = GemmAndBackprop()


def numba_gemm_and_backprop(op, node, **kwargs):
    check_shapes, gemm_into = numpy_blas.check_shapes, numpy_blas.gemm_into
    add_product = numpy_blas.add_product

    @njit
    def gemm_and_backprop(W, a, x, delta):
        check_shapes(W, x, delta)
        alpha = a.item()
        if x.shape[1] != 1:
            back = numpy.empty((delta.shape[0], W.shape[0]), dtype=W.dtype)
            check_shapes(back, delta, W.T)
            gemm_into(back, 1.0, delta, W.T, 0.0)   # before W changes
            add_product(W, alpha, x, delta)
            return W, back
        back = numpy.empty((1, W.shape[0]), dtype=W.dtype)
        zero = numpy.zeros(1, dtype=W.dtype)[0]
        for i in range(W.shape[0]):
            total = zero
            for j in range(W.shape[1]):
                w = W[i, j]
                total += w * delta[0, j]
                W[i, j] = w + alpha * (x[i, 0] * delta[0, j])
            back[0, i] = total
        return W, back
    return gemm_and_backprop, key()


class FuseGemmAndBackprop(GraphRewriter):
    """Finds gemm_inplace(W, alpha, x, delta, 1) next to dot22(delta, W.T)
    and puts one GemmAndBackprop in place of the two."""

    def apply(self, fgraph):
        for node in list(fgraph.toposort()):
            if node not in fgraph.apply_nodes:
                continue
            if not (isinstance(node.op, Gemm) and node.op.inplace):
                continue
            W, alpha, x, delta, beta = node.inputs
            if not is_one(beta):
                continue
            for client, position in list(fgraph.clients[delta]):
                if (type(client.op) is Dot22 and position == 0
                        and is_matrix_transpose(client.inputs[1].owner)
                        and client.inputs[1].owner.inputs[0] is W):
                    new_W, back = gemm_and_backprop_op(W, alpha, x, delta)
                    if back.type != client.outputs[0].type:
                        continue
                    fgraph.replace_all_validate(
                        [(client.outputs[0], back), (node.outputs[0], new_W)],
                        reason="fuse_gemm_and_backprop")
                    break


def install(patches):
    patches.funcify(numba_basic.register_funcify_default_op_cache_key, GemmAndBackprop,
                    numba_gemm_and_backprop)
    # after PyTensor makes gemm in place (50.2), before elementwise ops (70.5)
    patches.rewrite(optdb, "numba_fuse_gemm_and_backprop", FuseGemmAndBackprop(), "numba",
                    position=50.3)
