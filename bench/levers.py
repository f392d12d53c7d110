"""Measure a few performance levers of the port's training steps, one at a time.

    python bench/levers.py

1. The fixed cost of calling a compiled function (a function that does
   nothing but add 1), with and without ``trust_input``.
2. The SdA's batch-1 pre-training step of layer 1, with and without
   ``trust_input``.
3. The dA's batch-20 step at 0 % and at 30 % corruption: what drawing and
   applying the mask costs.
4. Drawing a 20 x 784 mask alone: binomial(n=1), as the original did, against
   uniforms of the same shape (compared with the level, the same Bernoulli
   distribution; the tutorials now draw uniforms).
5. d @ W.T for a 1000 x 1000 W in plain Numba: W.T made with as_strided (what
   PyTensor 3.0's transpose gives) against Numba's own W.T (what
   numba_speedups/transpose.py gives).
6. The outer product x.T @ d at batch size 1 (1000 x 1000): PyTensor's Dot
   (BLAS) against the loop of numba_speedups/inplace_gemm.py.
7. The SGD update W - 0.1 * x.T @ d for a 1000 x 1000 W: without and with the
   in-place gemm of numba_speedups/inplace_gemm.py (switched off by the name of its
   rewrite, as PYTENSOR_FLAGS=optimizer_excluding=numba_gemm does for a whole
   run, e.g. of bench/bench.py).
8. Elementwise maths over a 20 x 784 matrix (the dA's) and over LeNet's
   first layer (500 x 20 x 12 x 12), float32 and float64: exp, the softmax
   over the last axis, tanh, the sigmoid,
   softplus, the dA's cross-entropy (two softplus and a sum) and tanh's
   gradient, as PyTensor compiles them for Numba, with the plug-in's
   vectorisable formulas (numba_speedups/vector_math.py), and in NumPy. The
   plug-in's row is timed twice: through pytensor.function, and its compiled
   code called directly (fn.vm.jit_fn), without the function's fixed cost.
9. The dA's products, (20 x 784) @ (784 x 500) and the in-place update of W
   by a (784 x 40) @ (40 x 500) product: np.dot inside Numba (SciPy's
   OpenBLAS) against NumPy's OpenBLAS called from Numba (numba_speedups/numpy_blas.py).
10. One fine-tuning layer's backward step at batch size 1 (1000 x 1000 W):
    d @ W.T and the in-place update in two passes over W, or in one
    (numba_speedups/fused_backprop.py; switched off by the name of its rewrite).
11. The dA's tied-weight update at batch size 1 (784 x 1000 W): two nested
    in-place gemms, or one over the stacked factors (numba_speedups/merged_gemms.py).
12. Scoring the 10,000 validation examples with the SdA at batch size 1: one
    call per example, as the original did, or 1000 examples per call, as
    SdA.build_finetune_functions now does (same per-minibatch errors).
13. Products OpenBLAS is slow at in one order and not in the other, float32
    and float64: the dA's h @ W.T (20 x 500 by 500 x 784, W.T a view),
    logistic regression's x @ W and its update's x.T @ d (10 columns), and
    LeNet's output layer's two: asked for as they are, or turned round,
    (y.T @ x.T).T written in rows and copied back, with NumPy's x @ y beside,
    and whether numba_speedups/numpy_blas.py turns the product round.
14. LeNet's training step (batch 500), float32 and float64, as
    convolutional_mlp.py runs it (one BLAS thread), each in a fresh process:
    with the plug-in, and without numba_speedups/heap_reuse.py
    (DLT_SPEEDUPS_EXCLUDE=heap_reuse): ms per step and page faults per step.

15. LeNet's training step, float32 and float64, with OpenBLAS at two
    threads (a notebook's default on two cores), each in a fresh process:
    with the plug-in, whose functions with a convolution run at one BLAS
    thread and share the blocks between the cores (OneBlasThread in
    numba_speedups/conv.py), and as the kernels ran before it, blocks in turn
    with BLAS sharing each product.

``python bench/levers.py 8`` runs lever 8 alone, ``14`` lever 14, ``15`` lever 15.
Run it with OPENBLAS_NUM_THREADS=1 and =2 to see what a second BLAS thread does.
It installs the speed-up plug-in (numba_speedups/) first, as the scripts do,
and takes single speed-ups out again where a lever compares with and without.
"""
import os
import sys
import timeit

import numpy

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "code"))

import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402

import numba  # noqa: E402
from pytensor.link.numba.dispatch import basic as numba_basic  # noqa: E402
from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key  # noqa: E402
from pytensor.link.numba.dispatch import scalar as numba_scalar  # noqa: E402
from pytensor.scalar.math import Softplus  # noqa: E402

import numba_speedups  # noqa: E402
import utils  # noqa: E402
from numba_speedups import numpy_blas  # noqa: E402
from dA import dA  # noqa: E402
from SdA import SdA  # noqa: E402


def per_call(fn, args, seconds=2.0, warmup=10):
    for _ in range(warmup):
        fn(*args)
    count, start = 0, timeit.default_timer()
    while timeit.default_timer() - start < seconds:
        fn(*args)
        count += 1
    return (timeit.default_timer() - start) / count * 1e6   # microseconds


def main():
    assert numba_speedups.install(), "the levers measure the speed-ups: install them"
    pytensor.config.floatX = "float32"
    (train_x, train_y), (valid_x, valid_y), _ = utils.load_mnist()
    data_x, _ = utils.shared_dataset((train_x[:2000], train_y[:2000]))

    index = pt.lscalar()
    three = (numpy.array(3, dtype="int64"),)
    trivial = pytensor.function([index], index + 1)
    print(f"1. empty function call: {per_call(trivial, three):.1f} us")
    trivial.trust_input = True
    print(f"   with trust_input:    {per_call(trivial, three):.1f} us")

    sda = SdA(numpy.random.RandomState(89677), n_ins=784, hidden_layers_sizes=[1000] * 3,
              n_outs=10, corruption_levels=[0.1, 0.2, 0.3])
    da = sda.dA_layers[0]
    corruption, lr = pt.scalar("corruption"), pt.scalar("lr")
    cost, updates = da.get_cost_updates(corruption, lr)
    step = pytensor.function([index, corruption, lr], cost, updates=updates,
                             givens={sda.x: data_x[index:index + 1]})
    args = (numpy.array(5, dtype="int64"), numpy.array(0.1, dtype="float32"),
            numpy.array(0.001, dtype="float32"))
    print(f"2. SdA pre-training step, layer 1, batch 1: {per_call(step, args):.1f} us")
    step.trust_input = True
    print(f"   with trust_input:                         {per_call(step, args):.1f} us")

    x = pt.matrix("x")
    for level in (0.0, 0.3):
        da = dA(numpy.random.RandomState(123), None, x, 784, 500)
        cost, updates = da.get_cost_updates(level, 0.1)
        step = pytensor.function([index], cost, updates=updates,
                                 givens={x: data_x[index * 20:(index + 1) * 20]})
        seven = (numpy.array(7, dtype="int64"),)
        print(f"3. dA step, batch 20, corruption {level:.1f}: {per_call(step, seven):.1f} us")

    rng = pt.random.shared_rng(seed=1)
    for kind in ("binomial", "uniform"):
        if kind == "binomial":
            next_rng, draw = rng.binomial(n=1, p=0.7, size=(20, 784))
        else:
            next_rng, draw = rng.uniform(size=(20, 784), dtype="float32")
        fn = pytensor.function([], draw, updates=[(rng, next_rng)])
        print(f"4. a 20x784 mask drawn with {kind}: {per_call(fn, ()):.1f} us")

    from numpy.lib.stride_tricks import as_strided

    @numba.njit
    def with_as_strided(d, W):
        return numpy.dot(d, as_strided(W, shape=(W.shape[1], W.shape[0]),
                                       strides=(W.strides[1], W.strides[0])))

    @numba.njit
    def with_view(d, W):
        return numpy.dot(d, W.T)

    gen = numpy.random.default_rng(0)
    W_value = gen.random((1000, 1000), dtype="float32")
    d_value = gen.random((1, 1000), dtype="float32")
    print(f"5. d @ W.T, W.T by as_strided: {per_call(with_as_strided, (d_value, W_value)):.1f} us")
    print(f"   d @ W.T, W.T as a view:      {per_call(with_view, (d_value, W_value)):.1f} us")

    without_gemm = pytensor.compile.mode.get_default_mode().excluding("numba_gemm")
    u, d = pt.matrix("u"), pt.matrix("d")
    for label, mode in (("PyTensor's Dot", without_gemm), ("numba_speedups loop", None)):
        fn = pytensor.function([u, d], pt.dot(u.T, d), mode=mode)
        print(f"6. outer product 1000 x 1000, {label}: "
              f"{per_call(fn, (d_value, d_value)):.1f} us")
    W = pytensor.shared(W_value)
    for label, mode in (("without gemm", without_gemm), ("in-place gemm", None)):
        fn = pytensor.function([u, d], [], updates=[(W, W - 0.1 * pt.dot(u.T, d))], mode=mode)
        print(f"7. update of a 1000 x 1000 W, {label}: "
              f"{per_call(fn, (d_value, d_value)):.1f} us")

    # 8. elementwise maths: PyTensor's own Numba code (one C library call per
    # element), the plug-in's (numba_speedups/vector_math.py) and NumPy's
    elementwise(gen)

    # 9. the dA's products: np.dot inside Numba (SciPy's OpenBLAS) against
    # NumPy's OpenBLAS called from Numba (numba_speedups/numpy_blas.py)
    @numba.njit
    def numba_dot(x, y):
        return numpy.dot(x, y)

    @numba.njit
    def numpy_blas_dot(x, y):
        out = numpy.empty((x.shape[0], y.shape[1]), dtype=x.dtype)
        numpy_blas.gemm_by_blas(out, 1.0, x, y, 0.0)
        return out

    @numba.njit
    def update_by_numba_dot(W, x, y):
        numpy_blas.gemm_by_numba(W, -0.1, x, y, 1.0)

    @numba.njit
    def update_by_numpy_blas(W, x, y):
        numpy_blas.gemm_by_blas(W, -0.1, x, y, 1.0)

    X, Y = gen.random((20, 784), dtype="float32"), gen.random((784, 500), dtype="float32")
    print(f"9. (20 x 784) @ (784 x 500), np.dot in Numba: {per_call(numba_dot, (X, Y)):.1f} us; "
          f"NumPy's BLAS from Numba: {per_call(numpy_blas_dot, (X, Y)):.1f} us; "
          f"NumPy: {per_call(numpy.dot, (X, Y)):.1f} us")
    U, V = gen.random((40, 784), dtype="float32").T, gen.random((40, 500), dtype="float32")
    W_da = gen.random((784, 500), dtype="float32")
    print(f"   the dA's update W -= 0.1 * (784 x 40) @ (40 x 500), np.dot then a loop: "
          f"{per_call(update_by_numba_dot, (W_da, U, V)):.1f} us; "
          f"NumPy's BLAS in place: {per_call(update_by_numpy_blas, (W_da, U, V)):.1f} us")

    default_mode = pytensor.compile.mode.get_default_mode()
    W = pytensor.shared(W_value)
    for label, mode in (("two passes", default_mode.excluding("numba_fuse_gemm_and_backprop")),
                        ("one pass", None)):
        fn = pytensor.function([u, d], pt.dot(d, W.T),
                               updates=[(W, W - 0.1 * pt.dot(u.T, d))], mode=mode)
        print(f"10. backward step of a 1000 x 1000 layer, {label}: "
              f"{per_call(fn, (d_value, d_value)):.1f} us")
    W = pytensor.shared(gen.random((784, 1000), dtype="float32"))
    u2, d2 = pt.matrix("u2"), pt.matrix("d2")
    x_value = gen.random((1, 784), dtype="float32")
    for label, mode in (("two gemms", default_mode.excluding("numba_merge_nested_gemms")),
                        ("one gemm", None)):
        fn = pytensor.function(
            [u, d, u2, d2], [], mode=mode,
            updates=[(W, W - 0.1 * (pt.dot(u.T, d) + pt.dot(u2.T, d2)))])
        print(f"11. tied-weight update of a 784 x 1000 W, {label}: "
              f"{per_call(fn, (x_value, d_value, x_value, d_value)):.1f} us")

    valid = utils.shared_dataset((valid_x, valid_y))
    _, valid_score, _ = sda.build_finetune_functions([valid] * 3, 1, 0.1)
    one_by_one = pytensor.function(
        [index], sda.errors,
        givens={sda.x: valid[0][index:index + 1], sda.y: valid[1][index:index + 1]})
    print("12. scoring 10,000 examples at batch size 1, one call each: "
          f"{per_call(lambda: [one_by_one(i) for i in range(len(valid_y))], (), 5, warmup=1) / 1e6:.2f} s")
    print("    1000 examples per call: "
          f"{per_call(valid_score, (), 5, warmup=1) / 1e6:.2f} s")

    turned_round(gen)
    heap_reuse()
    one_blas_thread()


def heap_reuse():
    import subprocess
    for dtype in ("float32", "float64"):
        for label, excluded in (("plug-in", ""), ("without heap_reuse", "heap_reuse")):
            env = dict(os.environ, DLT_SPEEDUPS_EXCLUDE=excluded)
            env.setdefault("OPENBLAS_NUM_THREADS", "1")     # as convolutional_mlp.py sets it
            done = subprocess.run([sys.executable, os.path.abspath(__file__), "--lenet-step",
                                   dtype], env=env, capture_output=True, text=True, check=True)
            ms, faults = done.stdout.split()
            print(f"14. LeNet step, {dtype}, {label}: {float(ms):.1f} ms, "
                  f"{float(faults):.0f} page faults a step")


def one_blas_thread():
    import subprocess
    for dtype in ("float32", "float64"):
        for label, extra in (("plug-in", []), ("blocks in turn, BLAS at two threads",
                                               ["--blocks-in-turn"])):
            env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
            done = subprocess.run([sys.executable, os.path.abspath(__file__), "--lenet-step",
                                   dtype] + extra, env=env, capture_output=True, text=True,
                                  check=True)
            ms, faults = done.stdout.split()
            print(f"15. LeNet step, {dtype}, OpenBLAS at two threads, {label}: "
                  f"{float(ms):.1f} ms")


def lenet_step(dtype, blocks_in_turn=False):
    """One process's LeNet step: prints ms per step and page faults per step."""
    import resource
    sys.path.insert(0, HERE)
    import bench
    if blocks_in_turn:
        # the kernels as they were before OneBlasThread: with BLAS at more
        # than one thread they do their blocks in turn, BLAS sharing each product
        from numba_speedups import conv
        conv.one_blas_thread = lambda: None
    assert numba_speedups.install()
    pytensor.config.floatX = dtype
    (train_x, train_y), _, _ = utils.load_mnist()
    data = (train_x[:1000], train_y[:1000].astype("int32"))
    step, _ = bench.port_step("LeNet", bench.initial_params("LeNet", dtype), data, 500, dtype)
    ms = per_call(step, (0,), seconds=3.0, warmup=3) / 1e3
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for i in range(10):
        step(i % 2)
    print(ms, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)


def turned_round(gen):
    from numba_speedups.numpy_blas import (blas_operand, blas_product, blas_thread_count,
                                           turned_product, turned_round_is_faster)

    @numba.njit
    def as_it_is(z, x, y):
        xs, x_how, x_row = blas_operand(x)
        ys, y_how, y_row = blas_operand(y)
        blas_product(z.shape[0], z.shape[1], x.shape[1], 1.0, xs.ctypes.data, x_how, x_row,
                     ys.ctypes.data, y_how, y_row, 0.0, z.ctypes.data, z.shape[1], z.itemsize)

    @numba.njit
    def turned(z, x, y):
        xs, x_how, x_row = blas_operand(x)
        ys, y_how, y_row = blas_operand(y)
        turned_product(z, 1.0, xs, x_how, x_row, ys, y_how, y_row, 0.0)

    @numba.njit
    def rule(z, x, y):
        xs, x_how, x_row = blas_operand(x)
        ys, y_how, y_row = blas_operand(y)
        return turned_round_is_faster(z.shape[0], z.shape[1], x.shape[1], x_how, y_how,
                                      z.itemsize, blas_thread_count())

    for dtype in ("float32", "float64"):
        def random(*shape):
            return gen.random(shape).astype(dtype)
        cases = [("the dA's h @ W.T, 20 x 500 by 500 x 784 (W.T a view)",
                  random(20, 500), random(784, 500).T),
                 ("logistic regression's x @ W, 600 x 784 by 784 x 10",
                  random(600, 784), random(784, 10)),
                 ("its update's x.T @ d, 784 x 600 by 600 x 10 (x.T a view)",
                  random(600, 784).T, random(600, 10)),
                 ("LeNet's output layer h @ W, 500 x 500 by 500 x 10",
                  random(500, 500), random(500, 10)),
                 ("its update's h.T @ d, 500 x 500 by 500 x 10 (h.T a view)",
                  random(500, 500).T, random(500, 10))]
        for label, x, y in cases:
            z = numpy.empty((x.shape[0], y.shape[1]), dtype=dtype)
            times = {}
            for name, fn in (("as it is", as_it_is), ("turned round", turned)):
                times[name] = per_call(fn, (z, x, y))
                numpy.testing.assert_allclose(z, x @ y, rtol=1e-4)
            times["NumPy"] = per_call(lambda: x @ y, ())
            print(f"13. {label}, {dtype}: "
                  + ", ".join(f"{k} {v:.1f} us" for k, v in times.items())
                  + f"; the plug-in turns it round: {'yes' if rule(z, x, y) else 'no'}")


def elementwise(gen):
    from pytensor.scalar.basic import Exp, Tanh
    from pytensor.scalar.math import Sigmoid
    ours = {op: numba_funcify_and_cache_key.dispatch(op) for op in (Exp, Tanh, Sigmoid, Softplus)}
    stock = {Exp: numba_scalar.numba_funcify_ScalarOp, Tanh: numba_scalar.numba_funcify_ScalarOp,
             Sigmoid: numba_scalar.numba_funcify_Sigmoid,
             Softplus: numba_scalar.numba_funcify_Softplus}

    def numpy_softmax(v):
        e = numpy.exp(v - v.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def numpy_softplus(v):
        return numpy.maximum(v, 0) + numpy.log1p(numpy.exp(-numpy.abs(v)))

    def numpy_sigmoid(v):
        return 1 / (1 + numpy.exp(-v))
    kernels = [
        ("exp", lambda a, x: pt.exp(a), lambda a, x: numpy.exp(a)),
        ("softmax over the last axis", lambda a, x: pt.special.softmax(a, axis=-1),
         lambda a, x: numpy_softmax(a)),
        ("tanh", lambda a, x: pt.tanh(a), lambda a, x: numpy.tanh(a)),
        ("sigmoid", lambda a, x: pt.sigmoid(a), lambda a, x: numpy_sigmoid(a)),
        ("softplus", lambda a, x: pt.softplus(a), lambda a, x: numpy_softplus(a)),
        ("the dA's cross-entropy",
         lambda a, x: -pt.sum(x * pt.log(pt.sigmoid(a)) + (1 - x) * pt.log(1 - pt.sigmoid(a)),
                              axis=-1),
         lambda a, x: (x * numpy_softplus(-a) + (1 - x) * numpy_softplus(a)).sum(axis=-1)),
        ("tanh's gradient, g * (1 - tanh(a)**2)",
         lambda a, x: x * (1 - pt.tanh(a) ** 2), lambda a, x: x * (1 - numpy.tanh(a) ** 2)),
    ]
    for shape in ((20, 784), (500, 20, 12, 12)):
        for dtype in ("float32", "float64"):
            A = (gen.standard_normal(shape) * 4).astype(dtype)
            X = gen.random(shape).astype(dtype)
            a = pt.tensor("a", dtype=dtype, shape=(None,) * len(shape))
            x = pt.tensor("x", dtype=dtype, shape=(None,) * len(shape))
            for name, graph, by_numpy in kernels:
                times = {}
                for label, table in (("PyTensor's", stock), ("plug-in", ours)):
                    for op, implementation in table.items():
                        numba_basic.register_funcify_and_cache_key(op)(implementation)
                    fn = pytensor.function([a, x], graph(a, x), on_unused_input="ignore")
                    times[label] = per_call(fn, (A, X), 1.0)
                # the same compiled code without pytensor.function's own cost per
                # call (lever 1), which a training step pays once, not per kernel
                times["loop alone"] = per_call(fn.vm.jit_fn, (A, X), 1.0)
                times["NumPy"] = per_call(by_numpy, (A, X), 1.0)
                print(f"8. {name}, {' x '.join(map(str, shape))}, {dtype}: "
                      + ", ".join(f"{k} {v:.1f} us" for k, v in times.items())
                      + f"; plug-in / NumPy {times['plug-in'] / times['NumPy']:.2f}"
                      + f", loop alone / NumPy {times['loop alone'] / times['NumPy']:.2f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--lenet-step"]:
        lenet_step(sys.argv[2], "--blocks-in-turn" in sys.argv[3:])
    elif sys.argv[1:] == ["14"]:
        heap_reuse()
    elif sys.argv[1:] == ["15"]:
        one_blas_thread()
    elif sys.argv[1:] == ["8"]:
        assert numba_speedups.install(), "the levers measure the speed-ups: install them"
        elementwise(numpy.random.default_rng(0))
    else:
        main()
