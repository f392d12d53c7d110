"""Two updates of one matrix in one pass.

The dA's weights are tied, so its gradient has two terms and the rewrites of
inplace_gemm leave two nested gemms, each a pass over W. With the same step
size they are one gemm whose inner dimension is the two stacked:
``W += a * [x1 x2] @ [y1; y2]``; for such small inner dimensions the gemm is
a loop that adds into W directly (numpy_blas.add_product).

Measured (docs/performance.md, lever 11, AMD EPYC, one thread, float32): the
dA's tied-weight update at batch size 1, 784 x 1000, 78 -> 51 us.
"""
from pytensor.compile.mode import optdb
from pytensor.graph.basic import equal_computations
from pytensor.graph.rewriting.basic import dfs_rewriter, node_rewriter
from pytensor.tensor.basic import join
from pytensor.tensor.blas import Gemm

from numba_speedups._shared import is_one


@node_rewriter([Gemm])
def merge_nested_gemms(fgraph, node):
    """gemm(gemm(W, a, x1, y1, 1), a, x2, y2, 1) -> gemm(W, a, [x1 x2], [y1; y2], 1)"""
    outer_W, a, x2, y2, beta = node.inputs
    inner = outer_W.owner
    if (node.op.inplace or inner is None or not isinstance(inner.op, Gemm)
            or inner.op.inplace or not is_one(beta)):
        return None
    W, a1, x1, y1, beta1 = inner.inputs
    if (not equal_computations([a1], [a]) or not is_one(beta1)
            or len(fgraph.clients[outer_W]) != 1):
        return None
    merged = Gemm(inplace=False)(W, a, join(1, x1, x2), join(0, y1, y2), beta)
    if merged.type != node.outputs[0].type:
        return None
    return [merged]


def install(patches):
    # after inplace_gemm's rewrites make the gemms (1.71), long before
    # PyTensor makes them in place (50.2)
    patches.rewrite(optdb, "numba_merge_nested_gemms", dfs_rewriter(merge_nested_gemms),
                    "numba", position=1.72)
