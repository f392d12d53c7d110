"""Speed fixes for PyTensor 3.0's Numba backend (its default mode).

Importing this module is all it takes; ``utils`` does, so every script gets
them. None of them changes what a graph computes, only how: 1-6 how matrix
products are carried out, 7 how softplus is evaluated (to within rounding), 8
how hard LLVM optimises the compiled code, 9 how much code Numba compiles.
The performance page of the docs has the measurements behind each, and
``tests/test_numba_fixes.py`` checks them.

1. Transposes as views. Backpropagation multiplies by transposed weights
   (``W.T``) at every step. PyTensor 3.0 builds each transpose with
   ``as_strided``, whose result Numba can only type as "any layout", so
   ``np.dot`` copies the whole matrix before calling BLAS; for a 1000 x 1000
   matrix that copy costs far more than the product itself (pytensor issue
   #1111). Numba's own ``x.T`` keeps the layout known (a C-ordered array
   transposed is Fortran-ordered), and BLAS reads the weights where they are.

2. SGD updates in place. ``W - lr * dot(x.T, delta)`` builds the gradient in a
   new matrix, then reads it back to write the new W. PyTensor's own rewrites
   turn such an expression into ``gemm(W, -lr, x.T, delta, 1)``, which adds
   into W where it lies, but they are switched off for Numba because Numba has
   no implementation of that op. We switch them back on for Numba (only the
   two that make ``Dot22`` and ``Gemm``) and give both ops an implementation.

3. Outer products written out. At batch size 1, ``dot(x.T, delta)`` is an
   outer product. BLAS computes it as a general matrix product, clearing the
   output first; a plain loop writes each entry once, and inside ``gemm`` it
   adds into W without any temporary matrix.

4. One pass over W for both uses of it in backpropagation. A hidden layer's
   backward step reads its weights twice: once for ``delta @ W.T`` (the error
   handed to the layer below) and once more for the in-place update
   ``W += -lr * x.T @ delta``. At batch size 1 the weights hardly fit in the
   cache and each pass costs as much as reading them from memory, so we
   compute both in one sweep, row by row: row i of ``W`` gives entry i of
   ``delta @ W.T`` and is updated right after it is read. Each row is read
   before it is changed, so the result is the one the graph asks for.

5. Two updates of one matrix in one pass. The dA's weights are tied, so its
   gradient has two terms and the rewrites leave two nested in-place gemms,
   each a pass over W. With the same step size they are one gemm whose inner
   dimension is the two stacked: ``W += a * [x1 x2] @ [y1; y2]``. For such
   small inner dimensions the gemm below is a loop that adds into W directly.

6. NumPy's BLAS for the products. Numba hands ``np.dot`` to SciPy's copy of
   OpenBLAS (0.3.30 with SciPy 1.17), which multiplies the dA's float32
   matrices (20 x 784 by 784 x 500) about 1.5 times slower than the newer
   OpenBLAS inside NumPy's wheel (0.3.31). We call NumPy's copy directly,
   through its C interface, and let it add into W (``beta = 1``) instead of
   building the product in a temporary. A row or a column (the SdA at batch
   size 1) goes to its matrix-vector product, gemv, directly too: through
   ``np.dot`` it made Numba compile NumPy's whole product code once for each
   layout of the factors, several seconds of each first compile. Where NumPy
   brings no OpenBLAS of its own (another build of NumPy), the products go
   through ``np.dot`` as before.

7. Softplus without branches. PyTensor turns the dA's cross-entropy,
   ``x * log(sigmoid(a)) + (1 - x) * log(1 - sigmoid(a))``, into its stable
   form ``-x * softplus(-a) - (1 - x) * softplus(a)``, and its Numba code for
   softplus picks one of four formulas per element; on real activations that
   branch is hard to predict. ``softplus(x) = max(x, 0) + log1p(exp(-|x|))``
   is as accurate for every x and has no branch. (Both terms then need the
   same ``log1p(exp(-|a|))``, and the two cost hardly more than one.)

8. LLVM at -O2. Numba asks LLVM for its heaviest optimisation level, -O3, and
   a first run spends much of its compiling there. At -O2 every script compiles
   about 15 % faster and every training step runs as fast as before (without
   fast-math LLVM may not reorder floating-point sums at either level, so the
   numbers are the same too). A ``NUMBA_OPT`` set by the user is left alone.

9. Less for Numba to compile. PyTensor writes one piece of code for a sum or
   a maximum along any axes of an array of any rank and layout: it sorts the
   strides, transposes by the permutation it found, and checks shapes with
   error messages that print them. On a first run Numba compiles all of that
   library code (sorting, hashing, turning numbers into strings), several
   seconds of it, and the same again for argmax and for the array of zeros the
   gradient of an indexing starts from. The tutorials only ever reduce a
   matrix along one axis (a bias's gradient, the cost per example, the
   softmax's largest entry, the predicted class), and for a matrix two loops
   do it. Ours are PyTensor's own loops, in the same order, so the sums come
   out the same to the last bit.
"""
import ctypes
import glob
import hashlib
import os

import numpy

try:
    from pytensor.compile.mode import optdb
    from pytensor.graph.basic import Apply, Constant, equal_computations
    from pytensor.graph.op import Op
    from pytensor.graph.rewriting.basic import GraphRewriter, dfs_rewriter, node_rewriter
    from pytensor.tensor.basic import Alloc, get_underlying_scalar_constant_value, join
    from pytensor.tensor.exceptions import NotScalarConstantError
    from pytensor.graph.rewriting.db import SequenceDB
    from pytensor.link.numba.dispatch import basic as numba_basic
    from pytensor.link.numba.dispatch import elemwise as numba_elemwise
    from pytensor.link.numba.dispatch import tensor_basic as numba_tensor_basic
    from pytensor.scalar.basic import Add, Maximum as ScalarMaximum
    from pytensor.tensor.blas import Dot22, Gemm
    from pytensor.tensor.elemwise import CAReduce, DimShuffle
    from pytensor.tensor.math import Argmax
    from pytensor.tensor.rewriting.blas import GemmOptimizer, local_dot_to_dot22
    from pytensor.tensor.type import TensorType
    from pytensor.link.numba.dispatch import scalar as numba_scalar
    from pytensor.scalar.math import Softplus
    import llvmlite.binding
    from numba import types
    AVAILABLE = True
except (ImportError, AttributeError):   # no Numba, or a PyTensor laid out otherwise
    AVAILABLE = False

# PyTensor's on-disk cache of compiled Numba code finds our functions by the
# number we give it, not by their source: derive that number from this file,
# so that any edit here compiles them afresh instead of reusing old code.
with open(__file__, "rb") as _source:
    SOURCE_KEY = int(hashlib.sha256(_source.read()).hexdigest()[:12], 16)


if AVAILABLE:
    njit = numba_basic.numba_njit
    general_dimshuffle = numba_elemwise.numba_funcify_DimShuffle

    def is_matrix_transpose(node):
        return (node is not None and isinstance(node.op, DimShuffle)
                and node.inputs[0].ndim == 2 and tuple(node.op.new_order) == (1, 0))

    # 1. Transposes as views
    @numba_basic.register_funcify_default_op_cache_key(DimShuffle)
    def numba_dimshuffle(op, node, **kwargs):
        if is_matrix_transpose(node):
            @njit
            def transpose(x):
                return x.T
            return transpose, KEY
        return general_dimshuffle(op, node, **kwargs)

    # 6. NumPy's OpenBLAS, through its C interface (64-bit integers); first,
    # because the products of 2. to 4. below call it
    def load_numpy_blas():
        """Finds the OpenBLAS in NumPy's wheel and tells Numba's linker where
        its matrix-matrix (gemm) and matrix-vector (gemv) products are;
        returns the library's path, or None."""
        folder = os.path.join(os.path.dirname(numpy.__file__), os.pardir, "numpy.libs")
        for path in sorted(glob.glob(os.path.join(folder, "libscipy_openblas64_*"))):
            try:
                lib = ctypes.CDLL(path)
                for name in ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_",
                             "scipy_cblas_sgemv64_", "scipy_cblas_dgemv64_"):
                    address = ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
                    llvmlite.binding.add_symbol(name, address)
            except (OSError, AttributeError):
                continue
            return path
        return None

    NUMPY_BLAS = load_numpy_blas()
    # the compiled code differs with and without NumPy's BLAS: so do the keys
    KEY = 2 * SOURCE_KEY + (NUMPY_BLAS is not None)

    @njit
    def check_shapes(z, x, y):
        # the loops and BLAS below read without bounds checks: refuse what would overrun
        if (x.shape[0] != z.shape[0] or y.shape[1] != z.shape[1]
                or x.shape[1] != y.shape[0]):
            raise ValueError("gemm: shapes of z, x and y do not match")

    @njit
    def gemm_by_numba(z, alpha, x, y, beta):
        """z = beta * z + alpha * x @ y, written over z, through np.dot."""
        product = numpy.dot(x, y)
        for i in range(z.shape[0]):
            for j in range(z.shape[1]):
                if beta == 0:   # z may hold anything, even NaN: ignore it
                    z[i, j] = alpha * product[i, j]
                else:
                    z[i, j] = beta * z[i, j] + alpha * product[i, j]

    if NUMPY_BLAS is None:
        gemm_into = gemm_by_numba
    else:
        flag, n, address = types.int32, types.int64, types.uintp

        def cblas_gemm(name, real):
            # (order, trans_x, trans_y, m, n, k, alpha, x, ldx, y, ldy, beta, z, ldz)
            return types.ExternalFunction(name, types.void(
                flag, flag, flag, n, n, n, real, address, n, address, n, real, address, n))

        def cblas_gemv(name, real):
            # (order, trans_a, m, n, alpha, a, lda, v, step_v, beta, out, step_out)
            return types.ExternalFunction(name, types.void(
                flag, flag, n, n, real, address, n, address, n, real, address, n))

        sgemm = cblas_gemm("scipy_cblas_sgemm64_", types.float32)
        dgemm = cblas_gemm("scipy_cblas_dgemm64_", types.float64)
        sgemv = cblas_gemv("scipy_cblas_sgemv64_", types.float32)
        dgemv = cblas_gemv("scipy_cblas_dgemv64_", types.float64)
        ROW_MAJOR, AS_IS, TRANSPOSED = 101, 111, 112

        @njit
        def in_rows(a):
            return a.strides[1] == a.itemsize and a.strides[0] >= max(1, a.shape[1]) * a.itemsize

        @njit
        def blas_operand(a):
            """How cblas should read a: (array, AS_IS or TRANSPOSED, row
            length in memory). A copy only when neither a nor a.T is in rows."""
            if in_rows(a):
                return a, AS_IS, a.strides[0] // a.itemsize
            if in_rows(a.T):
                return a, TRANSPOSED, a.strides[1] // a.itemsize
            rows = numpy.ascontiguousarray(a)
            return rows, AS_IS, max(1, rows.shape[1])

        @njit
        def gemv(how, m, n, alpha, a, a_row, v, v_step, beta, out, out_step, itemsize):
            if itemsize == 4:
                sgemv(ROW_MAJOR, how, m, n, numpy.float32(alpha), a, a_row, v, v_step,
                      numpy.float32(beta), out, out_step)
            else:
                dgemv(ROW_MAJOR, how, m, n, alpha, a, a_row, v, v_step, beta, out, out_step)

        @njit
        def blas_product(m, n, k, alpha, x, x_how, x_row, y, y_how, y_row, beta, z, z_row,
                         itemsize):
            """z = beta * z + alpha * x @ y on bare addresses: x and y as
            blas_operand describes them, z (m x n) in rows of z_row elements."""
            # gemm would treat a row or a column as a whole matrix, 4 times
            # slower than the matrix-vector product (1 x 1000 by 1000 x 1000)
            if m == 1:      # z's row = x's row @ y, that is y.T @ x's row
                x_step = 1 if x_how == AS_IS else x_row
                if y_how == AS_IS:      # y (k x n) lies in rows
                    gemv(TRANSPOSED, k, n, alpha, y, y_row, x, x_step, beta, z, 1, itemsize)
                else:                   # y.T (n x k) lies in rows
                    gemv(AS_IS, n, k, alpha, y, y_row, x, x_step, beta, z, 1, itemsize)
            elif n == 1:    # z's column = x @ y's column
                y_step = y_row if y_how == AS_IS else 1
                if x_how == AS_IS:      # x (m x k) lies in rows
                    gemv(AS_IS, m, k, alpha, x, x_row, y, y_step, beta, z, z_row, itemsize)
                else:                   # x.T (k x m) lies in rows
                    gemv(TRANSPOSED, k, m, alpha, x, x_row, y, y_step, beta, z, z_row, itemsize)
            elif itemsize == 4:
                sgemm(ROW_MAJOR, x_how, y_how, m, n, k, numpy.float32(alpha), x, x_row,
                      y, y_row, numpy.float32(beta), z, z_row)
            else:
                dgemm(ROW_MAJOR, x_how, y_how, m, n, k, alpha, x, x_row, y, y_row, beta, z, z_row)

        # Numba compiles gemm_into once for each layout of z, x and y; the
        # loops over z alone go in functions of their own, compiled once for z
        @njit
        def scale(z, beta):
            """z = beta * z; at beta = 0 zeros, whatever z held (even NaN)."""
            for i in range(z.shape[0]):
                for j in range(z.shape[1]):
                    z[i, j] = 0 if beta == 0 else beta * z[i, j]

        @njit
        def add_into(z, product):
            for i in range(z.shape[0]):
                for j in range(z.shape[1]):
                    z[i, j] += product[i, j]

        @njit
        def gemm_into(z, alpha, x, y, beta):
            """z = beta * z + alpha * x @ y, written over z, by NumPy's BLAS.
            Callers pass alpha and beta as float64, so that Numba compiles one
            version per layout of the arrays, not one per type of the scalars too."""
            check_shapes(z, x, y)
            m, n, k = z.shape[0], z.shape[1], x.shape[1]
            if k == 0 or (beta == 0 and (m == 1 or n == 1)):
                # gemv may keep a NaN of z even at beta = 0, and with k = 0 it
                # leaves z as it is: do that part here (gemm does it right)
                scale(z, beta)
                beta = 1.0
                if k == 0:
                    return
            xs, x_how, x_row = blas_operand(x)
            ys, y_how, y_row = blas_operand(y)
            if in_rows(z):
                blas_product(m, n, k, alpha, xs.ctypes.data, x_how, x_row,
                             ys.ctypes.data, y_how, y_row, beta, z.ctypes.data,
                             z.strides[0] // z.itemsize, z.itemsize)
            else:           # z strided otherwise: the product in rows first
                product = numpy.zeros((m, n), dtype=z.dtype)   # gemv and NaN, as above
                blas_product(m, n, k, alpha, xs.ctypes.data, x_how, x_row,
                             ys.ctypes.data, y_how, y_row, 0.0, product.ctypes.data,
                             max(1, n), z.itemsize)
                scale(z, beta)
                add_into(z, product)
            # BLAS got bare addresses: xs and ys (maybe copies) must live until here
            check_shapes(z, xs, ys)

    # 2. and 3. A matrix product, and W + alpha * dot(x, y) added into W
    @numba_basic.register_funcify_default_op_cache_key(Dot22)
    def numba_dot22(op, node, **kwargs):
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
        return dot22, KEY

    @njit
    def add_product(z, alpha, x, y):
        """z += alpha * x @ y, in place; loops without temporaries when the
        inner dimension is 1 (an outer product) or 2 (the dA's two terms)."""
        check_shapes(z, x, y)
        if x.shape[1] == 1:
            for i in range(z.shape[0]):
                for j in range(z.shape[1]):
                    z[i, j] += alpha * (x[i, 0] * y[0, j])
        elif x.shape[1] == 2:
            # y comes from a join whose layout Numba cannot know; rows
            # copied into fresh (C-ordered) vectors keep the loop vectorised
            y0 = numpy.empty(z.shape[1], dtype=z.dtype)
            y1 = numpy.empty(z.shape[1], dtype=z.dtype)
            for j in range(z.shape[1]):
                y0[j], y1[j] = y[0, j], y[1, j]
            for i in range(z.shape[0]):
                s0, s1 = alpha * x[i, 0], alpha * x[i, 1]
                for j in range(z.shape[1]):
                    z[i, j] += s0 * y0[j] + s1 * y1[j]
        else:
            gemm_into(z, float(alpha), x, y, 1.0)

    @numba_basic.register_funcify_default_op_cache_key(Gemm)
    def numba_gemm(op, node, **kwargs):
        inplace = op.inplace

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
        return gemm, KEY

    # PyTensor's own rewrites, tagged so that only the Numba mode runs them
    # (the C mode has its own, with more ops). Position 1.71: right after
    # where the C mode runs them. The in-place step that follows later,
    # gemm -> gemm_inplace, PyTensor already runs for every mode.
    _gemm_rewrites = SequenceDB()
    _gemm_rewrites.register("numba_dot_to_dot22", dfs_rewriter(local_dot_to_dot22),
                            "numba", position=0)
    _gemm_rewrites.register("numba_gemm_optimizer", GemmOptimizer(), "numba",
                            position=10)

    # 5. gemm(gemm(W, a, x1, y1, 1), a, x2, y2, 1) -> one gemm
    def is_one(var):
        try:
            return get_underlying_scalar_constant_value(var) == 1
        except NotScalarConstantError:
            return False

    @node_rewriter([Gemm])
    def merge_nested_gemms(fgraph, node):
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

    _gemm_rewrites.register("numba_merge_nested_gemms", dfs_rewriter(merge_nested_gemms),
                            "numba", position=20)
    optdb.register("numba_gemm", _gemm_rewrites, "numba", position=1.71)

    # 4. delta @ W.T and W += alpha * x @ delta in one pass over W
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

    @numba_basic.register_funcify_default_op_cache_key(GemmAndBackprop)
    def numba_gemm_and_backprop(op, node, **kwargs):
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
        return gemm_and_backprop, KEY

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

    # after PyTensor makes gemm in place (50.2), before elementwise ops (70.5)
    optdb.register("numba_fuse_gemm_and_backprop", FuseGemmAndBackprop(), "numba",
                   position=50.3)

    # 7. softplus(x) = max(x, 0) + log1p(exp(-|x|))
    general_softplus = numba_scalar.numba_funcify_Softplus

    @numba_basic.register_funcify_and_cache_key(Softplus)
    def numba_softplus(op, node, **kwargs):
        dtype = node.inputs[0].type.dtype
        if not dtype.startswith("float"):    # PyTensor's own code handles ints
            return general_softplus(op, node, **kwargs)
        zero = numpy.dtype(dtype).type(0)

        @njit
        def branchless_softplus(x):
            return max(x, zero) + numpy.log1p(numpy.exp(-abs(x)))
        return branchless_softplus, numba_scalar.scalar_op_cache_key(
            op, cache_version=KEY, dtype=dtype)

    # 8. LLVM at -O2. Numba reads NUMBA_OPT again before each compile, so
    # setting it here, before the first compile, is enough.
    os.environ.setdefault("NUMBA_OPT", "2")

    # 9. Sums, maxima and argmax along one axis of a matrix, and arrays of
    # one value: plain loops, where PyTensor's code for any number of
    # dimensions makes Numba compile sorting, hashing and string formatting
    general_careduce = numba_elemwise.numba_funcify_CAReduce
    general_alloc = numba_tensor_basic.numba_funcify_Alloc

    @njit
    def add(total, value):
        return total + value

    @njit
    def maximum(largest, value):
        # PyTensor's comparison: a NaN is never larger, so it is passed over
        return value if largest < value else largest

    @numba_basic.register_funcify_and_cache_key(CAReduce)
    def numba_careduce(op, node, **kwargs):
        combine = {Add: add, ScalarMaximum: maximum}.get(type(op.scalar_op))
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
            # the same loops as PyTensor's, which walk x in memory order,
            # so that LLVM splits the same sums into the same partial sums
            # and the results agree to the last bit
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
        return reduce_one_axis, f"{type(op.scalar_op).__name__}-{keep}-{acc}-{out}-{KEY}"

    general_argmax = numba_elemwise.numba_funcify_Argmax

    @numba_basic.register_funcify_default_op_cache_key(Argmax)
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
        return argmax_one_axis, KEY

    @numba_basic.register_funcify_and_cache_key(Alloc)
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
        return fill, f"fill-{len(shape)}-{dtype}-{KEY}"
