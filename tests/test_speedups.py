"""The speed-ups of numba_speedups/: installed on request, computing what the
graphs say (checked against NumPy) in the default (Numba) mode, and gone
again after uninstall(). Installing them is global to the process, so this
module installs them for its own tests and takes them out at its end."""
import sys

import numpy
import pytest

import pytensor
import pytensor.tensor as pt
from pytensor.link.numba.dispatch.basic import numba_funcify, numba_funcify_and_cache_key
from pytensor.scalar.math import Softplus
from pytensor.tensor.blas import Dot22, Gemm
from pytensor.tensor.basic import Alloc
from pytensor.tensor.elemwise import CAReduce, DimShuffle
from pytensor.tensor.math import Argmax

import numba_speedups
import utils
from numba_speedups import fused_backprop, heap_reuse, numpy_blas

FLOATS = ["float32", "float64"]


def tolerance(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)


def nodes_of(fn, op_type):
    return [node for node in fn.maker.fgraph.toposort() if isinstance(node.op, op_type)]


@pytest.fixture(scope="module", autouse=True)
def speedups():
    assert not numba_speedups.installed()
    assert numba_speedups.install()
    yield
    numba_speedups.uninstall()


def test_the_speedups_are_installed():
    assert numba_speedups.installed()
    for op_type in (DimShuffle, Dot22, Gemm, fused_backprop.GemmAndBackprop, CAReduce, Alloc,
                    Argmax):
        assert numba_funcify.dispatch(op_type).__module__.startswith("numba_speedups."), op_type
    assert numba_funcify_and_cache_key.dispatch(Softplus).__module__ == "numba_speedups.vector_math"


@pytest.mark.parametrize("dtype", FLOATS)
def test_products_with_transposes(dtype):
    rng = numpy.random.default_rng(0)
    W = rng.standard_normal((7, 5)).astype(dtype)
    d = rng.standard_normal((3, 5)).astype(dtype)
    w, v = pt.matrix("w", dtype=dtype), pt.matrix("v", dtype=dtype)
    fn = pytensor.function([w, v], [pt.dot(v, w.T), w.T, pt.dot(w.T, w)])
    product, transposed, gram = fn(W, d)
    numpy.testing.assert_allclose(product, d @ W.T, **tolerance(dtype))
    numpy.testing.assert_array_equal(transposed, W.T)
    numpy.testing.assert_allclose(gram, W.T @ W, **tolerance(dtype))
    # strided and Fortran-ordered inputs go through the same code
    product, transposed, _ = fn(numpy.asfortranarray(W), numpy.ascontiguousarray(d))
    numpy.testing.assert_allclose(product, d @ W.T, **tolerance(dtype))
    every_other = rng.standard_normal((14, 5)).astype(dtype)[::2]
    product, transposed, _ = fn(every_other, d)
    numpy.testing.assert_allclose(product, d @ every_other.T, **tolerance(dtype))
    numpy.testing.assert_array_equal(transposed, every_other.T)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("batch", [1, 4])
def test_sgd_update_in_place(dtype, batch):
    """W - lr * x.T @ delta becomes one in-place gemm, and computes the same."""
    rng = numpy.random.default_rng(1)
    W0 = rng.standard_normal((6, 9)).astype(dtype)
    W = pytensor.shared(W0.copy(), name="W")
    x, delta = pt.matrix("x", dtype=dtype), pt.matrix("delta", dtype=dtype)
    lr = numpy.asarray(0.1, dtype=dtype)
    step = pytensor.function([x, delta], [], updates=[(W, W - lr * pt.dot(x.T, delta))])
    gemms = nodes_of(step, Gemm)
    assert len(gemms) == 1 and gemms[0].op.inplace

    xs = rng.standard_normal((batch, 6)).astype(dtype)
    ds = rng.standard_normal((batch, 9)).astype(dtype)
    step(xs, ds)
    numpy.testing.assert_allclose(W.get_value(), W0 - lr * xs.T @ ds, **tolerance(dtype))
    step(xs, ds)
    numpy.testing.assert_allclose(W.get_value(), W0 - 2 * lr * xs.T @ ds, **tolerance(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_outer_product(dtype):
    rng = numpy.random.default_rng(2)
    u = rng.standard_normal((1, 5)).astype(dtype)
    v = rng.standard_normal((1, 3)).astype(dtype)
    a, b = pt.matrix("a", dtype=dtype), pt.matrix("b", dtype=dtype)
    fn = pytensor.function([a, b], pt.dot(a.T, b))
    assert nodes_of(fn, Dot22)
    numpy.testing.assert_allclose(fn(u, v), numpy.outer(u, v), **tolerance(dtype))


@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5])
@pytest.mark.parametrize("inner", [1, 3])
@pytest.mark.parametrize("mutable", [False, True])
def test_gemm_op_directly(beta, inner, mutable):
    """Gemm computes beta * z + alpha * x @ y (beta = 0 ignores z, NaN or not),
    over z itself when PyTensor may destroy z, in a copy when not."""
    rng = numpy.random.default_rng(3)
    z0 = rng.standard_normal((4, 6))
    if beta == 0.0:
        z0[0, 0] = numpy.nan
    xs, ys = rng.standard_normal((4, inner)), rng.standard_normal((inner, 6))
    z, x, y = pt.matrix("z"), pt.matrix("x"), pt.matrix("y")
    a, b = pt.scalar("a"), pt.scalar("b")
    fn = pytensor.function([pytensor.In(z, mutable=mutable), a, x, y, b],
                           Gemm(inplace=False)(z, a, x, y, b))
    [gemm] = nodes_of(fn, Gemm)
    assert gemm.op.inplace == mutable
    z_arg = z0.copy()
    result = fn(z_arg, -0.3, xs, ys, beta)
    expected = -0.3 * xs @ ys if beta == 0.0 else beta * z0 - 0.3 * xs @ ys
    numpy.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12)
    if not mutable:
        numpy.testing.assert_array_equal(z_arg, z0)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("batch", [1, 3])
def test_update_and_backprop_in_one_pass(dtype, batch):
    """delta @ W.T (with W before the step) and W -= lr * x.T @ delta become
    one GemmAndBackprop; both results are what NumPy gives."""
    rng = numpy.random.default_rng(4)
    W0 = rng.standard_normal((6, 9)).astype(dtype)
    W = pytensor.shared(W0.copy(), name="W")
    x, delta = pt.matrix("x", dtype=dtype), pt.matrix("delta", dtype=dtype)
    lr = numpy.asarray(0.1, dtype=dtype)
    step = pytensor.function([x, delta], pt.dot(delta, W.T),
                             updates=[(W, W - lr * pt.dot(x.T, delta))])
    assert len(nodes_of(step, fused_backprop.GemmAndBackprop)) == 1
    assert not nodes_of(step, Gemm) and not nodes_of(step, Dot22)

    xs = rng.standard_normal((batch, 6)).astype(dtype)
    ds = rng.standard_normal((batch, 9)).astype(dtype)
    numpy.testing.assert_allclose(step(xs, ds), ds @ W0.T, **tolerance(dtype))
    W1 = W0 - lr * xs.T @ ds
    numpy.testing.assert_allclose(W.get_value(), W1, **tolerance(dtype))
    numpy.testing.assert_allclose(step(xs, ds), ds @ W1.T, **tolerance(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("batch", [1, 3])
def test_two_updates_of_one_matrix_merge(dtype, batch):
    """The dA's tied-weight update, W -= lr * (x1.T @ y1 + x2.T @ y2), is
    one in-place gemm over the stacked factors, and computes the same."""
    rng = numpy.random.default_rng(5)
    W0 = rng.standard_normal((6, 9)).astype(dtype)
    W = pytensor.shared(W0.copy(), name="W")
    x1, x2 = pt.matrix("x1", dtype=dtype), pt.matrix("x2", dtype=dtype)
    y1, y2 = pt.matrix("y1", dtype=dtype), pt.matrix("y2", dtype=dtype)
    lr = numpy.asarray(0.1, dtype=dtype)
    step = pytensor.function(
        [x1, y1, x2, y2], [],
        updates=[(W, W - lr * (pt.dot(x1.T, y1) + pt.dot(x2.T, y2)))])
    [gemm] = nodes_of(step, Gemm)
    assert gemm.op.inplace and gemm.inputs[0] is W

    a1, a2 = (rng.standard_normal((batch, 6)).astype(dtype) for _ in range(2))
    b1, b2 = (rng.standard_normal((batch, 9)).astype(dtype) for _ in range(2))
    step(a1, b1, a2, b2)
    expected = W0 - lr * (a1.T @ b1 + a2.T @ b2)
    numpy.testing.assert_allclose(W.get_value(), expected, **tolerance(dtype))


def test_mismatched_shapes_are_refused():
    """The loops do not check bounds themselves, so the ops check shapes."""
    W = pytensor.shared(numpy.zeros((6, 9)), name="W")
    x, delta = pt.matrix("x"), pt.matrix("delta")
    step = pytensor.function([x, delta], pt.dot(delta, W.T),
                             updates=[(W, W - 0.1 * pt.dot(x.T, delta))])
    with pytest.raises(ValueError, match="shapes"):
        step(numpy.ones((1, 5)), numpy.ones((1, 9)))
    with pytest.raises(ValueError, match="shapes"):
        step(numpy.ones((1, 6)), numpy.ones((1, 8)))


def test_the_tutorial_steps_update_in_place(mnist):
    """Every weight matrix of the SdA's fine-tuning step is updated in place,
    the upper ones in the same pass that hands the error down, so no step
    builds a second copy of a weight matrix, and the step still moves the
    weights as the graph says."""
    from SdA import SdA
    (train_x, train_y), _, _ = mnist
    split = utils.shared_dataset((train_x[:20], train_y[:20]))
    sda = SdA(numpy.random.RandomState(89677), n_ins=784, hidden_layers_sizes=[30, 20],
              n_outs=10, corruption_levels=[0.1, 0.2])
    train_fn, _, _ = sda.build_finetune_functions([split] * 3, 1, 0.1)
    [gemm] = nodes_of(train_fn, Gemm)
    assert gemm.op.inplace and gemm.inputs[0] is sda.sigmoid_layers[0].W
    fused = nodes_of(train_fn, fused_backprop.GemmAndBackprop)
    assert {node.inputs[0] for node in fused} == {sda.sigmoid_layers[1].W, sda.logLayer.W}
    # one step by hand in NumPy, from the same weights, on example 0
    W = [layer.W.get_value() for layer in sda.sigmoid_layers] + [sda.logLayer.W.get_value()]
    b = [layer.b.get_value() for layer in sda.sigmoid_layers] + [sda.logLayer.b.get_value()]
    acts = [train_x[:1].astype("float64")]
    for k in range(2):
        acts.append(1 / (1 + numpy.exp(-(acts[-1] @ W[k] + b[k]))))
    logits = acts[-1] @ W[2] + b[2]
    delta = numpy.exp(logits - logits.max())
    delta /= delta.sum()
    delta[0, train_y[0]] -= 1
    expected = []
    for k in (2, 1, 0):
        expected.insert(0, W[k] - 0.1 * acts[k].T @ delta)
        delta = (delta @ W[k].T) * acts[k] * (1 - acts[k])
    train_fn(0)
    got = [layer.W.get_value() for layer in sda.sigmoid_layers] + [sda.logLayer.W.get_value()]
    for g, e in zip(got, expected):
        numpy.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


def test_products_use_numpys_blas_for_every_layout():
    """NumPy's wheel brings an OpenBLAS and the products call it, gemm or, for
    a row or a column, gemv; whatever the layout of the factors (rows,
    columns, neither) and of z, Gemm and Dot22 give what NumPy gives."""
    assert numpy_blas.PATH is not None and numpy_blas.gemm_into is numpy_blas.gemm_by_blas
    rng = numpy.random.default_rng(6)
    big = rng.standard_normal((12, 14))
    z, x, y = pt.matrix("z"), pt.matrix("x"), pt.matrix("y")
    gemm = pytensor.function([pytensor.In(z, mutable=True), x, y],
                             Gemm(inplace=False)(z, numpy.asarray(-0.5), x, y, numpy.asarray(1.0)))
    dot = pytensor.function([x, y], pt.dot(x, y))
    assert nodes_of(gemm, Gemm)[0].op.inplace and nodes_of(dot, Dot22)
    factors = {
        "rows": (big[:4, :5].copy(), big[:5, :6].copy()),
        "columns": (numpy.asfortranarray(big[:4, :5]), numpy.asfortranarray(big[:5, :6])),
        "neither": (big[::3, ::2][:4, :5], big[::2, ::2][:5, :6]),
        "one row": (big[:1, :5], big[:5, :6]),
        "one row, y in columns": (big[:1, :5], numpy.asfortranarray(big[:5, :6])),
        "one row, x a column transposed": (big[:5, :1].T, big[:5, :6]),
        "one row, x strided": (big[3:4, ::2][:, :5], big[:5, :6]),
        "one column": (big[:4, :5], big[:5, :1]),
        "one column, x in columns": (numpy.asfortranarray(big[:4, :5]), big[:5, :1]),
        "one column, y a row transposed": (big[:4, :5], big[:1, :5].T),
        "one by one": (big[:1, :5], big[:5, :1]),
        "empty inner dimension": (big[:4, :0], big[:0, :6]),
    }
    for name, (xs, ys) in factors.items():
        numpy.testing.assert_allclose(dot(xs, ys), xs @ ys, rtol=1e-12, atol=1e-12, err_msg=name)
        for z_layout in (numpy.ascontiguousarray, numpy.asfortranarray):
            z0 = z_layout(rng.standard_normal((xs.shape[0], ys.shape[1])))
            expected = z0 - 0.5 * xs @ ys
            numpy.testing.assert_allclose(gemm(z0, xs, ys), expected, rtol=1e-12, atol=1e-12,
                                          err_msg=name)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(1, 6), (4, 1), (4, 6)])
def test_products_ignore_z_at_beta_zero(dtype, shape):
    """At beta = 0 whatever z holds, NaN included, leaves no trace, for the
    matrix-vector products (a row, a column) as for gemm."""
    rng = numpy.random.default_rng(7)
    xs = rng.standard_normal((shape[0], 3)).astype(dtype)
    ys = rng.standard_normal((3, shape[1])).astype(dtype)
    z, x, y = pt.matrix("z", dtype=dtype), pt.matrix("x", dtype=dtype), pt.matrix("y", dtype=dtype)
    gemm = pytensor.function([pytensor.In(z, mutable=True), x, y],
                             Gemm(inplace=False)(z, numpy.asarray(2.0, dtype=dtype), x, y,
                                                 numpy.asarray(0.0, dtype=dtype)))
    assert nodes_of(gemm, Gemm)[0].op.inplace
    for z_layout in (numpy.ascontiguousarray, numpy.asfortranarray):
        z0 = z_layout(numpy.full(shape, numpy.nan, dtype=dtype))
        numpy.testing.assert_allclose(gemm(z0, xs, ys), 2 * xs @ ys, **tolerance(dtype))


ELEMENTWISE = {
    "exp": (pt.exp, numpy.exp),
    "tanh": (pt.tanh, numpy.tanh),
    "sigmoid": (pt.sigmoid, lambda x: 1 / (1 + numpy.exp(-x))),
    "softplus": (pt.softplus, lambda x: numpy.logaddexp(numpy.longdouble(0), x)),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_vectorisable_functions_are_within_three_ulps(dtype, name):
    """exp, tanh, the sigmoid and softplus in plain arithmetic
    (numba_speedups/vector_math.py), inside a fused elementwise graph as the
    models use them, against the exact value (long double)."""
    from pytensor.scalar.basic import Exp, Tanh
    from pytensor.scalar.math import Sigmoid
    for op_type in (Exp, Tanh, Sigmoid, Softplus):
        assert (numba_funcify_and_cache_key.dispatch(op_type).__module__
                == "numba_speedups.vector_math")
    ours, exact = ELEMENTWISE[name]
    x, b = pt.vector("x", dtype=dtype), pt.scalar("b", dtype=dtype)
    fn = pytensor.function([x, b], ours(x + b))
    tiny = numpy.finfo(dtype).tiny
    values = numpy.concatenate([
        [0.0, -0.0, tiny, -tiny, 1e-30, -1e-8, 0.3465, 0.5, 8.99, 9.0, 19.4, 19.6, 30, -30,
         -87, -103, -104, -744, -746, 1e4, -1e4],
        numpy.linspace(-120, 120, 200001),
        numpy.geomspace(1e-12, 1, 2001), -numpy.geomspace(1e-12, 1, 2001)]).astype(dtype)
    if name == "exp":   # up to where exp overflows
        values = values[values < numpy.log(numpy.finfo(dtype).max)]
    got = fn(values, numpy.zeros((), dtype=dtype))
    want = exact(values.astype(numpy.longdouble))
    ulps = numpy.abs(got - want) / numpy.spacing(numpy.abs(want).astype(dtype))
    assert ulps.max() <= 3, values[numpy.argmax(ulps)]
    # the infinities, and NaN in, NaN out
    ends = fn(numpy.array([numpy.inf, -numpy.inf, numpy.nan], dtype=dtype),
              numpy.zeros((), dtype=dtype))
    numpy.testing.assert_array_equal(ends[:2], exact(numpy.array([numpy.inf, -numpy.inf])))
    assert numpy.isnan(ends[2])


@pytest.mark.parametrize("dtype", FLOATS)
def test_a_few_rows_by_a_transposed_matrix(dtype):
    """h @ W.T with h 20 x 500: in float32 numba_speedups/numpy_blas.py asks
    OpenBLAS for the product turned round, (W @ h.T).T, and copies it back;
    the same numbers as NumPy's either way, for h in rows, strided or
    Fortran-ordered, and for shapes on both sides of the rule; and so for
    products with ten columns (logistic regression's), added into z."""
    import numba
    from numba_speedups.numpy_blas import AS_IS, TRANSPOSED, turned_round_is_faster as rule

    @numba.njit
    def turned_round_is_faster(m, n, k, x_how, y_how, itemsize, threads=1):
        return rule(m, n, k, x_how, y_how, itemsize, threads)    # callable from Python
    for threads in (1, 2):
        assert turned_round_is_faster(20, 784, 500, AS_IS, TRANSPOSED, 4, threads)
        assert not turned_round_is_faster(20, 784, 500, AS_IS, TRANSPOSED, 8, threads)
        assert not turned_round_is_faster(20, 784, 500, AS_IS, AS_IS, 4, threads)
        assert not turned_round_is_faster(64, 784, 500, AS_IS, TRANSPOSED, 4, threads)
        # ten columns: the update x.T @ d in float64, and with one thread in
        # float32 too, the forward x @ W in float64 with one thread
        assert turned_round_is_faster(784, 10, 600, TRANSPOSED, AS_IS, 8, threads)
        assert turned_round_is_faster(784, 10, 600, TRANSPOSED, AS_IS, 4, threads) == (threads == 1)
        assert turned_round_is_faster(600, 10, 784, AS_IS, AS_IS, 8, threads) == (threads == 1)
        for itemsize in (4, 8):
            assert not turned_round_is_faster(784, 10, 20, TRANSPOSED, AS_IS, itemsize, threads)
            assert not turned_round_is_faster(784, 100, 600, TRANSPOSED, AS_IS, itemsize, threads)
        assert not turned_round_is_faster(600, 10, 784, AS_IS, AS_IS, 4, threads)
        assert not turned_round_is_faster(20, 10, 500, AS_IS, AS_IS, 8, threads)
    rng = numpy.random.default_rng(0)
    h, w = pt.matrix("h", dtype=dtype), pt.matrix("w", dtype=dtype)
    fn = pytensor.function([h, w], pt.dot(h, w.T))
    for m, k, n in ((20, 500, 784), (4, 100, 16), (32, 100, 128), (3, 500, 784), (20, 99, 784)):
        H = rng.standard_normal((m, 2 * k)).astype(dtype)
        W = rng.standard_normal((n, k)).astype(dtype)
        for label, x in (("rows", H[:, :k].copy()), ("strided", H[:, ::2]),
                         ("Fortran", numpy.asfortranarray(H[:, :k]))):
            got = fn(x, W)
            assert got.flags.c_contiguous
            numpy.testing.assert_allclose(got, x @ W.T, err_msg=f"{(m, k, n)} {label}",
                                          **tolerance(dtype))
    # z = beta * z + alpha * x @ y turned round or not, z in rows or strided
    # (beta 0: z's NaNs ignored)
    gemm_by_blas = numba.njit(lambda z, alpha, x, y, beta: numpy_blas.gemm_by_blas(
        z, alpha, x, y, beta))   # called from Python directly it crashed (segfault)
    for m, k, n, x_t in ((784, 600, 10, True), (600, 784, 10, False), (784, 20, 10, True)):
        x = rng.standard_normal((k, m) if x_t else (m, k)).astype(dtype)
        x = x.T if x_t else x
        y = rng.standard_normal((k, n)).astype(dtype)
        for beta in (0.0, 1.0, 0.5):
            for z_label, z in (("rows", rng.standard_normal((m, n)).astype(dtype)),
                               ("strided", rng.standard_normal((m, 2 * n)).astype(dtype)[:, ::2])):
                before = z.copy()
                if beta == 0:
                    z[...] = numpy.nan
                gemm_by_blas(z, -0.1, x, y, beta)
                want = (beta * before if beta else 0) - 0.1 * (x @ y)
                numpy.testing.assert_allclose(z, want, err_msg=f"{(m, k, n)} {beta} {z_label}",
                                              **tolerance(dtype))


def calls_in_compiled_code(fn):
    """Names of the functions the compiled code of fn still calls."""
    import re
    jitted = fn.vm.jit_fn
    return re.findall(r"call [^@]*@([\w.$]+)\(", jitted.inspect_llvm(jitted.signatures[0]))


def test_elementwise_loops_inline_their_scalar_code(monkeypatch):
    """The dA's cross-entropy in float64 (two softplus in a fused graph, each too
    large for LLVM's inliner): with numba_speedups/inline_loops.py no call to
    softplus or to the fused graph is left in the loop, so that LLVM can
    vectorise it; without it, one call per element."""
    rng = numpy.random.default_rng(0)
    A, X = rng.standard_normal((20, 784)) * 4, rng.random((20, 784))
    want = (numpy.logaddexp(0, -A) * X + numpy.logaddexp(0, A) * (1 - X)).sum()

    def compiled():
        a, x = pt.matrix("a"), pt.matrix("x")
        # Numba can show the code it compiled, not the code it loaded from
        # its cache: compile afresh (without PyTensor's cache, which leaves
        # out the wrappers of the Composite's nodes; the rest of the chain is
        # the same)
        with pytensor.config.change_flags(numba__cache=False):
            fn = pytensor.function(
                [a, x], -pt.sum(x * pt.log(pt.sigmoid(a)) + (1 - x) * pt.log(1 - pt.sigmoid(a))))
            numpy.testing.assert_allclose(fn(A, X), want, rtol=1e-12)
        return [name for name in calls_in_compiled_code(fn)
                if "softplus" in name.lower() or "composite" in name.lower()]
    assert compiled() == []
    numba_speedups.uninstall()
    try:
        monkeypatch.setattr(numba_speedups, "MODULES",
                            [m for m in numba_speedups.MODULES if m != "inline_loops"])
        assert numba_speedups.install()
        assert compiled() != []
    finally:
        numba_speedups.uninstall()
        monkeypatch.undo()
        assert numba_speedups.install()


def layouts(matrix):
    """The same values laid out in memory every way a graph can hand them on."""
    return {"C": matrix, "F": numpy.asfortranarray(matrix), "rows reversed": matrix[::-1],
            "strided": matrix[:, ::2], "transposed": matrix.T, "one row": matrix[:1],
            "one column": matrix[:, :1]}


def pytensors_own_reduction(node):
    """PyTensor's own Numba code for a reduction node, callable from Python."""
    import numba
    from pytensor.link.numba.dispatch.elemwise import numba_funcify_CAReduce
    kernel, _ = numba_funcify_CAReduce(node.op, node)

    @numba.njit
    def call(*args):
        return kernel(*args)
    return call


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduce", ["sum", "max"])
@pytest.mark.parametrize("axis", [0, 1])
def test_sums_and_maxima_along_one_axis(dtype, reduce, axis):
    """Our loops give PyTensor's own results to the last bit, for every
    layout: sums in float64, to within rounding of the sum in index order,
    maxima passing over NaN."""
    x = pt.matrix("x", dtype=dtype)
    fn = pytensor.function([x], getattr(x, reduce)(axis=axis))
    [node] = nodes_of(fn, CAReduce)
    theirs = pytensors_own_reduction(node)
    rng = numpy.random.default_rng(9)
    # magnitudes over many orders, so that any other order of the sums would show
    values = (rng.standard_normal((37, 301)) * 10.0 ** rng.integers(-6, 6, (37, 301))).astype(dtype)
    if reduce == "max":
        values[3, 5] = numpy.nan
    for name, matrix in layouts(values).items():
        ours = fn(matrix)
        assert ours.dtype == dtype, name
        assert numpy.array_equal(ours, theirs(matrix), equal_nan=True), name
        if reduce == "sum":
            # the last of the running sums is the sum in index order
            in_order = numpy.cumsum(matrix.astype("float64"), axis=axis).take(-1, axis=axis)
            numpy.testing.assert_allclose(ours, in_order.astype(dtype), err_msg=name,
                                          rtol=max(1e-13, numpy.finfo(dtype).eps))
        else:
            assert numpy.array_equal(ours, numpy.nanmax(matrix, axis=axis)), name


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("axis", [0, 1])
def test_argmax_along_one_axis(dtype, axis):
    """NumPy's argmax: the first of equal largest values, and the first NaN."""
    x = pt.matrix("x", dtype=dtype)
    fn = pytensor.function([x], pt.argmax(x, axis=axis))
    assert nodes_of(fn, Argmax)
    values = numpy.random.default_rng(10).integers(0, 4, (9, 7)).astype(dtype)
    values[2, 3] = values[5, 6] = numpy.nan
    for name, matrix in layouts(values).items():
        ours = fn(matrix)
        assert ours.dtype == "int64", name
        assert numpy.array_equal(ours, numpy.argmax(matrix, axis=axis)), name


@pytest.mark.parametrize("shape, value_ndim",
                         [((5,), 0), ((5,), 1), ((4, 6), 0), ((4, 6), 1), ((4, 6), 2), ((0, 3), 2)])
def test_arrays_of_one_value(shape, value_ndim):
    """Alloc spreading one value, given as a scalar or as a 1 x 1 array (the
    zeros that the gradient of an indexing starts from)."""
    value = pt.tensor("value", shape=(1,) * value_ndim)
    sizes = [pt.iscalar(f"n{i}") for i in range(len(shape))]
    fn = pytensor.function([value, *sizes], pt.alloc(value, *sizes) * 1)
    assert nodes_of(fn, Alloc)
    out = fn(numpy.full((1,) * value_ndim, 2.5, dtype=value.dtype), *shape)
    assert out.shape == shape and out.dtype == value.dtype
    assert numpy.all(out == 2.5)


def test_arrays_filled_from_a_row():
    """More than one value to spread: PyTensor's own code, which broadcasts."""
    row = pt.vector("row")
    fn = pytensor.function([row], pt.alloc(row, 3, row.shape[0]) * 1)
    values = numpy.arange(4.0, dtype=row.dtype)
    numpy.testing.assert_array_equal(fn(values), numpy.tile(values, (3, 1)))


WITHOUT_NUMPYS_BLAS = """
import glob, sys
sys.path.insert(0, sys.argv[1])     # code/, for conv.py
real_glob = glob.glob
glob.glob = lambda pattern, *args, **kwargs: (
    [] if "openblas" in pattern else real_glob(pattern, *args, **kwargs))
import numba_speedups
from numba_speedups import numpy_blas
assert numba_speedups.install()
glob.glob = real_glob
assert numpy_blas.PATH is None and numpy_blas.gemm_into is numpy_blas.gemm_by_numba
import numpy, pytensor, pytensor.tensor as pt
from pytensor.tensor.blas import Gemm
rng = numpy.random.default_rng(8)
z, x, y = pt.matrix("z"), pt.matrix("x"), pt.matrix("y")
dot = pytensor.function([x, y], pt.dot(x, y))
gemm = pytensor.function([pytensor.In(z, mutable=True), x, y],
                         Gemm(inplace=False)(z, numpy.asarray(-0.5), x, y, numpy.asarray(1.0)))
xs, ys, zs = rng.standard_normal((4, 5)), rng.standard_normal((6, 5)).T, rng.standard_normal((4, 6))
numpy.testing.assert_allclose(dot(xs, ys), xs @ ys, rtol=1e-12)
numpy.testing.assert_allclose(gemm(zs.copy(), xs, ys), zs - 0.5 * xs @ ys, rtol=1e-12)
from conv import conv2d
images, filters = rng.standard_normal((3, 2, 7, 6)), rng.standard_normal((4, 2, 3, 2))
expected = numpy.zeros((3, 4, 5, 5))
for u in range(3):
    for v in range(2):
        # a true convolution: the filter turned round
        expected += numpy.einsum("ncij,fc->nfij", images[:, :, u:u + 5, v:v + 5],
                                 filters[:, :, 2 - u, 1 - v])
i4, f4 = pt.tensor4(), pt.tensor4()
numpy.testing.assert_allclose(pytensor.function([i4, f4], conv2d(i4, f4))(images, filters),
                              expected, rtol=1e-12, atol=1e-12)
print("products checked")
"""


def test_without_numpys_blas_the_products_use_np_dot():
    """A NumPy without an OpenBLAS of its own (conda, a system build): the
    speed-ups still install, and the products (those of the convolution
    kernels too) go through np.dot, correctly."""
    import subprocess
    import sys
    from conftest import CODE
    done = subprocess.run([sys.executable, "-c", WITHOUT_NUMPYS_BLAS, CODE],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "products checked" in done.stdout


OPT_LEVEL = """
import sys
import os
import numba_speedups
assert numba_speedups.install()
from numba.core import config
config.reload_config()   # what Numba does before each compile
print(int(config.OPT), os.environ.get("NUMBA_OPT"))
"""


@pytest.mark.parametrize("users_setting, expected", [(None, 2), ("3", 3), ("1", 1)])
def test_llvm_runs_at_O2_unless_the_user_chose_a_level(users_setting, expected):
    import os
    import subprocess
    import sys
    from conftest import CODE
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_OPT"}
    if users_setting is not None:
        env["NUMBA_OPT"] = users_setting
    done = subprocess.run([sys.executable, "-c", OPT_LEVEL, CODE], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    level, environment = done.stdout.split()
    assert int(level) == expected
    # set in Numba's config, not in the environment children inherit
    assert environment == str(users_setting)


def test_elementwise_dimensions_merge_where_the_inputs_agree():
    """numba_speedups/merged_dims.py: neighbouring dimensions that every input
    has, or broadcasts over, are run as one loop when the arrays are
    C-contiguous; the results are PyTensor's, for LeNet's pattern (a bias
    over the second axis), two outputs, an in-place op, and arrays in other
    layouts (which keep PyTensor's own loop)."""
    import numba
    from numba.core import types
    from pytensor.scalar.basic import add
    from pytensor.tensor.elemwise import Elemwise
    from numba_speedups.merged_dims import all_c_contiguous, groups_of
    F, T = False, True
    assert groups_of([(F, F, F, F), (T, F, T, T)]) == [[0], [1], [2, 3]]
    assert groups_of([(F, F, F), (F, F, F)]) == [[0, 1, 2]]
    assert groups_of([(F, F), (T, F)]) == [[0], [1]]
    assert all_c_contiguous((types.Array(types.float32, 4, "C"),) * 2)
    assert not all_c_contiguous((types.Array(types.float32, 4, "C"),
                                 types.Array(types.float32, 4, "A")))
    elemwise_code = numba_funcify_and_cache_key.dispatch(Elemwise)
    assert elemwise_code.__module__ == "numba_speedups.merged_dims"

    rng = numpy.random.default_rng(0)
    A = rng.standard_normal((5, 3, 4, 6)).astype("float32")
    B = rng.standard_normal((1, 3, 1, 1)).astype("float32")
    a = pt.tensor4("a", dtype="float32")
    b = pt.tensor("b", dtype="float32", shape=(1, None, 1, 1))
    both = pytensor.function([a, b], [pt.tanh(a + b), pt.exp(a) * b, a * 2 - b])
    for label, x in (("C", A), ("transposed", A.transpose(0, 1, 3, 2)),
                     ("strided", numpy.repeat(A, 2, axis=3)[..., ::2]),
                     ("Fortran", numpy.asfortranarray(A))):
        for got, want in zip(both(x, B), (numpy.tanh(x + B), numpy.exp(x) * B, x * 2 - B)):
            assert got.shape == want.shape, label
            numpy.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=label)
    with pytest.raises(ValueError):
        both(A, rng.standard_normal((1, 2, 1, 1)).astype("float32"))

    # an in-place addition into a, from the node as a graph hands it over
    op = Elemwise(add, inplace_pattern={0: 0})
    node = op.make_node(a, b)
    fn, _ = elemwise_code(op, node)
    assert fn.merged_groups == [[0], [1], [2, 3]]
    call = numba.njit(lambda x, y: fn(x, y))
    target = A.copy()
    call(target, B)
    numpy.testing.assert_allclose(target, A + B, rtol=1e-6)
    # two dimensions only, and a bias along the last: nothing to merge
    row = pt.tensor("row", dtype="float32", shape=(1, None))
    flat_node = Elemwise(add).make_node(pt.matrix("m", dtype="float32"), row)
    assert not hasattr(elemwise_code(flat_node.op, flat_node)[0], "merged_groups")


def test_minibatch_slices_and_biases_keep_loops_vectorised(monkeypatch):
    """numba_speedups/minibatch_slices.py and transpose.py: a minibatch sliced
    from a shared matrix, plus a bias vector, runs through a vectorised loop
    (LLVM's vector types in the compiled code); without the two modules
    PyTensor's slice and broadcast are of unknown layout and the loop is
    scalar. The values are NumPy's, for every form of slice and a
    DimShuffle of an array in another layout."""
    import re
    rng = numpy.random.default_rng(0)
    data = rng.standard_normal((100, 784)).astype("float32")
    shared = pytensor.shared(data)
    bias = rng.standard_normal(784).astype("float32")
    i, b = pt.lscalar("i"), pt.vector("b", dtype="float32")

    def vector_instructions():
        with pytensor.config.change_flags(numba__cache=False):
            fn = pytensor.function([i, b], pt.sigmoid(shared[i * 20:(i + 1) * 20] + b))
            want = 1 / (1 + numpy.exp(-(data[60:80] + bias)))
            numpy.testing.assert_allclose(fn(3, bias), want, rtol=1e-5)
        jitted = fn.vm.jit_fn
        return len(re.findall(r"<\d+ x float>", jitted.inspect_llvm(jitted.signatures[0])))
    assert vector_instructions() > 0
    numba_speedups.uninstall()
    try:
        monkeypatch.setattr(numba_speedups, "MODULES", [
            m for m in numba_speedups.MODULES if m not in ("minibatch_slices", "transpose")])
        assert numba_speedups.install()
        assert vector_instructions() == 0
    finally:
        numba_speedups.uninstall()
        monkeypatch.undo()
        assert numba_speedups.install()

    start, stop = pt.lscalar("start"), pt.lscalar("stop")
    for label, graph, want in (
            ("start:stop", shared[start:stop], data[-30:95]),
            ("start:", shared[start:], data[-30:]),
            (":stop", shared[:stop], data[:95]),
            ("past the end", shared[start:stop + 50], data[-30:145])):
        fn = pytensor.function([start, stop], graph * 2, on_unused_input="ignore")
        numpy.testing.assert_array_equal(fn(-30, 95), want * 2, err_msg=label)
    m = pt.matrix("m", dtype="float32")
    row = pt.tensor("row", dtype="float32", shape=(1, None))
    M = rng.standard_normal((6, 4)).astype("float32")
    for label, graph, value, want in (
            ("a row", b.dimshuffle("x", 0) * 2, bias, bias[None, :] * 2),
            ("a column", b.dimshuffle(0, "x") * 2, bias, bias[:, None] * 2),
            ("around a matrix", m.dimshuffle("x", 0, "x", 1) * 2, M, M[None, :, None, :] * 2),
            ("a matrix transposed first", m.T.dimshuffle("x", 0, 1) * 2, M, M.T[None] * 2),
            ("a length-one dimension dropped", row.dimshuffle(1) * 2, bias[None, :], bias * 2)):
        x = {"a row": b, "a column": b, "a length-one dimension dropped": row}.get(label, m)
        fn = pytensor.function([x], graph)
        numpy.testing.assert_array_equal(fn(value), want, err_msg=label)


HEAP_SCRIPT = """
import ctypes, resource, sys
sys.path.insert(0, sys.argv[1])
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.sbrk.restype, libc.sbrk.argtypes = ctypes.c_void_p, [ctypes.c_ssize_t]
SIZE = 48 << 20     # over the 32 MiB up to which glibc slides its own thresholds

def second_use():
    # a block written, freed, and one of the same size written again: the page
    # faults of the second, and whether it lies in the heap (below the break)
    for use in range(2):
        p = libc.malloc(SIZE)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        ctypes.memset(p, use + 1, SIZE)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        in_heap = p < libc.sbrk(0)
        libc.free(p)
    return faults, in_heap

import numba_speedups
from numba_speedups import _patches, heap_reuse
assert heap_reuse.glibc() is not None
print(SIZE // resource.getpagesize(), *second_use())
patches = _patches.Patches()
heap_reuse.install(patches)
print(*second_use())
patches.undo()
print(*second_use())
"""


def test_heap_reuse_keeps_freed_blocks_for_the_next_use():
    from conftest import ROOT, run
    done = run([sys.executable, "-c", HEAP_SCRIPT, ROOT])
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line.split() for line in done.stdout.splitlines()]
    pages = int(lines[0][0])
    (_, stock_in_heap), (faults, in_heap), (_, undone_in_heap) = (
        (int(f), h == "True") for f, h in (lines[0][1:], lines[1], lines[2]))
    assert not stock_in_heap            # glibc as it starts: its own mmap, given back on free
    assert in_heap and faults < pages // 10     # the same pages again, not fresh ones
    assert not undone_in_heap           # undo puts glibc's starting values back


class RefusingLibc(object):
    """A C library whose mallopt takes nothing but glibc's starting values."""
    def __init__(self):
        self.calls = []

    def mallopt(self, option, value):
        self.calls.append((option, value))
        return int(value == heap_reuse.DEFAULTS[option])


def test_heap_reuse_leaves_a_refusing_libc_as_it_starts(monkeypatch):
    from numba_speedups import _patches
    libc = RefusingLibc()
    monkeypatch.setattr(heap_reuse, "glibc", lambda: libc)
    patches = _patches.Patches()
    heap_reuse.install(patches)
    assert libc.calls[0] == (heap_reuse.M_MMAP_MAX, 0)
    assert dict(libc.calls[1:]) == heap_reuse.DEFAULTS
    assert patches._undo == []


def test_heap_reuse_does_nothing_without_glibc(monkeypatch):
    from numba_speedups import _patches

    class OtherLibc(object):            # musl, macOS: mallopt maybe, no gnu_get_libc_version
        def mallopt(self, option, value):
            raise AssertionError("mallopt called on a C library that is not glibc")
    monkeypatch.setattr(heap_reuse.ctypes, "CDLL", lambda name: OtherLibc())
    assert heap_reuse.glibc() is None
    patches = _patches.Patches()
    heap_reuse.install(patches)
    assert patches._undo == []
