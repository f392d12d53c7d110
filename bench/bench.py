"""Side-by-side timing of each tutorial's training step: this port, PyTorch, NumPy.

    python bench/bench.py                 # all steps, float32 and float64
    python bench/bench.py --quick         # fewer repetitions
    python bench/bench.py --write docs/performance.md

For every tutorial at its default settings it builds the training step three
ways from the same starting weights and the same minibatches, first checks that
one step of each gives the same cost and parameters (within float tolerance),
then times many steps, the three in turns (5 rounds, the best round of each
kept), and prints milliseconds per step, the estimated seconds per
epoch, the ratio to PyTorch and a lower limit set by this machine's measured
peak matrix-multiply rate (the written table adds the port's time over the
faster of PyTorch and NumPy, and over that limit). PyTorch is needed only here (pip install torch).

The port runs as the scripts run it for a user: with the speed-up plug-in of
numba_speedups/ installed (add --no-speedups to time stock PyTensor).
"""
import argparse
import os
import platform
import sys
import timeit

# --threads N must reach OpenBLAS before NumPy loads it (several counts run
# one process each, below)
if "--threads" in sys.argv:
    _n = sys.argv[sys.argv.index("--threads") + 1]
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "NUMBA_NUM_THREADS"):
        os.environ[_var] = _n
# --blas-threads N: OpenBLAS alone at N threads, as convolutional_mlp.py and
# SdA.py run it (one), the rest at --threads
if "--blas-threads" in sys.argv:
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index("--blas-threads") + 1]

import numpy  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "code"))

import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402

import numba_speedups  # noqa: E402
import utils  # noqa: E402

N_TRAIN = 50000

# each tutorial's training step at its default batch size
STEPS = [
    ("logistic regression", 600),
    ("MLP", 20),
    ("dA (30 % corruption)", 20),
    ("SdA pre-training, layer 1", 1),
    ("SdA fine-tuning", 1),
    ("LeNet", 500),
]
# LeNet's second convolution layer alone: 500 images of 20 maps 12 x 12, 50 filters 5 x 5
CONV_SHAPES = ((500, 20, 12, 12), (50, 20, 5, 5))


def sigmoid(a):
    return 1.0 / (1.0 + numpy.exp(-a))


# ---------------------------------------------------------------------------
# Parameters, drawn once and shared by the three implementations
# ---------------------------------------------------------------------------

def initial_params(name, dtype):
    rng = numpy.random.RandomState(1234)

    def uniform(n_in, n_out, scale=1.0):
        bound = scale * numpy.sqrt(6.0 / (n_in + n_out))
        return rng.uniform(-bound, bound, size=(n_in, n_out)).astype(dtype)
    zeros = lambda *shape: numpy.zeros(shape, dtype=dtype)  # noqa: E731
    if name == "logistic regression":
        return {"W": zeros(784, 10), "b": zeros(10)}
    if name == "MLP":
        # small random top weights (the script starts them at zero) so that a
        # single step moves every parameter and the check below sees it all
        return {"W1": uniform(784, 500), "b1": zeros(500),
                "W2": rng.normal(0, 0.01, (500, 10)).astype(dtype), "b2": zeros(10)}
    if name.startswith("dA"):
        return {"W": uniform(784, 500, 4), "b": zeros(500), "b_prime": zeros(784)}
    if name == "LeNet":
        rng = numpy.random.RandomState(23455)

        def filters(shape):
            fan_in, fan_out = numpy.prod(shape[1:]), shape[0] * numpy.prod(shape[2:]) // 4
            bound = numpy.sqrt(6.0 / (fan_in + fan_out))
            return rng.uniform(-bound, bound, size=shape).astype(dtype)
        return {"W0": filters((20, 1, 5, 5)), "b0": zeros(20),
                "W1": filters((50, 20, 5, 5)), "b1": zeros(50),
                "W2": uniform(800, 500), "b2": zeros(500),
                # small random top weights, as for the MLP
                "W3": rng.normal(0, 0.01, (500, 10)).astype(dtype), "b3": zeros(10)}
    sizes = [784, 1000, 1000, 1000]
    params = {}
    for i in range(3):
        params[f"W{i}"] = uniform(sizes[i], sizes[i + 1], 4)
        params[f"b{i}"] = zeros(sizes[i + 1])
    params["b_prime0"] = zeros(784)
    params["W3"] = rng.normal(0, 0.01, (1000, 10)).astype(dtype)
    params["b3"] = zeros(10)
    return params


# ---------------------------------------------------------------------------
# This port: the graphs the scripts build
# ---------------------------------------------------------------------------

def port_step(name, params, data, batch_size, dtype):
    """Returns (step(i), get_params()) using the project's own classes."""
    from dA import dA
    from logistic_sgd import LogisticRegression
    from mlp import MLP
    from SdA import SdA

    x_data, y_data = utils.shared_dataset(data)
    index = pt.lscalar()
    x, y = pt.matrix("x"), pt.ivector("y")
    sl = slice(index * batch_size, (index + 1) * batch_size)

    def compile_sgd(cost, model_params, lr, extra=()):
        grads = pt.grad(cost, model_params)
        updates = [(p, p - lr * g) for p, g in zip(model_params, grads)] + list(extra)
        return pytensor.function([index], cost, updates=updates,
                                 givens={x: x_data[sl], y: y_data[sl]},
                                 on_unused_input="ignore")

    if name == "logistic regression":
        model = LogisticRegression(x, 784, 10)
        shared = {"W": model.W, "b": model.b}
        fn = compile_sgd(model.negative_log_likelihood(y), model.params, 0.13)
    elif name == "LeNet":
        from convolutional_mlp import LeNetConvPoolLayer
        from mlp import HiddenLayer
        rng = numpy.random.RandomState(23455)
        layer0 = LeNetConvPoolLayer(rng, x.reshape((batch_size, 1, 28, 28)), (20, 1, 5, 5),
                                    (batch_size, 1, 28, 28))
        layer1 = LeNetConvPoolLayer(rng, layer0.output, (50, 20, 5, 5),
                                    (batch_size, 20, 12, 12))
        layer2 = HiddenLayer(rng, layer1.output.flatten(2), 800, 500, activation=pt.tanh)
        layer3 = LogisticRegression(layer2.output, 500, 10)
        shared = {}
        for i, layer in enumerate((layer0, layer1, layer2, layer3)):
            shared[f"W{i}"], shared[f"b{i}"] = layer.W, layer.b
        fn = compile_sgd(layer3.negative_log_likelihood(y),
                         layer3.params + layer2.params + layer1.params + layer0.params, 0.1)
    elif name == "MLP":
        model = MLP(numpy.random.RandomState(1234), x, 784, 500, 10)
        shared = {"W1": model.hiddenLayer.W, "b1": model.hiddenLayer.b,
                  "W2": model.logRegressionLayer.W, "b2": model.logRegressionLayer.b}
        cost = model.negative_log_likelihood(y) + 0.0001 * model.L2_sqr
        fn = compile_sgd(cost, model.params, 0.01)
    elif name.startswith("dA"):
        da = dA(numpy.random.RandomState(123), None, x, 784, 500)
        shared = {"W": da.W, "b": da.b, "b_prime": da.b_prime}
        cost, updates = da.get_cost_updates(corruption(name), 0.1)
        fn = pytensor.function([index], cost, updates=updates, givens={x: x_data[sl]})
    else:
        sda = SdA(numpy.random.RandomState(89677), n_ins=784,
                  hidden_layers_sizes=[1000, 1000, 1000], n_outs=10,
                  corruption_levels=[0.1, 0.2, 0.3])
        shared = {}
        for i, layer in enumerate(sda.sigmoid_layers):
            shared[f"W{i}"], shared[f"b{i}"] = layer.W, layer.b
        shared["b_prime0"] = sda.dA_layers[0].b_prime
        shared["W3"], shared["b3"] = sda.logLayer.W, sda.logLayer.b
        if name.startswith("SdA pre"):
            pre = sda.pretraining_functions(x_data, batch_size)[0]

            def fn(i):
                return pre(index=i, corruption=corruption(name), lr=0.001)
        else:
            fn = sda.build_finetune_functions([(x_data, y_data)] * 3, batch_size, 0.1)[0]
    for key, var in shared.items():
        var.set_value(params[key].copy())
    return fn, lambda: {k: v.get_value() for k, v in shared.items()}


CHECKING = [False]


def corruption(name):
    """The script's corruption for this step; 0 while checking the updates,
    so that all three implementations compute the very same thing."""
    if CHECKING[0]:
        return 0.0
    return 0.3 if name.startswith("dA") else 0.1


# ---------------------------------------------------------------------------
# NumPy: forward and backward written out by hand
# ---------------------------------------------------------------------------

def numpy_patches(x, kh, kw):
    """x (N, C, H, W) seen as (N, C, kh, kw, OH, OW), no copy."""
    n, c, h, w = x.shape
    s = x.strides
    return numpy.lib.stride_tricks.as_strided(
        x, (n, c, kh, kw, h - kh + 1, w - kw + 1), (s[0], s[1], s[2], s[3], s[2], s[3]))


def numpy_conv(x, W):
    """Theano's conv2d: the filters turned round, one tensordot over the patches."""
    out = numpy.tensordot(numpy_patches(x, *W.shape[2:]), W[:, :, ::-1, ::-1],
                          axes=([1, 2, 3], [1, 2, 3]))           # (N, OH, OW, F)
    return out.transpose(0, 3, 1, 2)


def numpy_conv_grads(x, W, g, need_input=True):
    """The gradients for the filters and (need_input) for the input, given the
    output's gradient g (N, F, OH, OW)."""
    kh, kw = W.shape[2:]
    gW = numpy.tensordot(g, numpy_patches(x, kh, kw), axes=([0, 2, 3], [0, 4, 5]))[:, :, ::-1, ::-1]
    if not need_input:
        return gW, None
    gx = numpy.zeros_like(x)
    turned = W[:, :, ::-1, ::-1]
    oh, ow = g.shape[2:]
    for u in range(kh):
        for v in range(kw):
            gx[:, :, u:u + oh, v:v + ow] += numpy.tensordot(g, turned[:, :, u, v], axes=([1], [0])
                                                            ).transpose(0, 3, 1, 2)
    return gW, gx


def numpy_pool(a):
    """2 x 2 max-pooling and the mask of each block's maximum."""
    n, c, h, w = a.shape
    blocks = a.reshape(n, c, h // 2, 2, w // 2, 2)
    pooled = blocks.max(axis=(3, 5))
    return pooled, blocks == pooled[:, :, :, None, :, None]


def softmax_grad(logits, y):
    """The mean negative log-likelihood of the labels y and its gradient for the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = numpy.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    rows = numpy.arange(len(y))
    cost = numpy.mean(numpy.log(total[:, 0]) - shifted[rows, y])
    prob = e / total
    prob[rows, y] -= 1
    return prob / len(y), cost


def numpy_lenet_step(p, x, y):
    a0 = numpy_conv(x.reshape(len(x), 1, 28, 28), p["W0"])
    m0, hit0 = numpy_pool(a0)
    h0 = numpy.tanh(m0 + p["b0"][None, :, None, None])
    a1 = numpy_conv(h0, p["W1"])
    m1, hit1 = numpy_pool(a1)
    h1 = numpy.tanh(m1 + p["b1"][None, :, None, None])
    flat = h1.reshape(len(x), -1)
    h2 = numpy.tanh(flat @ p["W2"] + p["b2"])
    d3, cost = softmax_grad(h2 @ p["W3"] + p["b3"], y)
    d2 = (d3 @ p["W3"].T) * (1 - h2 * h2)
    dflat = d2 @ p["W2"].T
    grads = {"W3": h2.T @ d3, "b3": d3.sum(0), "W2": flat.T @ d2, "b2": d2.sum(0)}
    dm1 = dflat.reshape(h1.shape) * (1 - h1 * h1)
    grads["b1"] = dm1.sum(axis=(0, 2, 3))
    da1 = (hit1 * dm1[:, :, :, None, :, None]).reshape(a1.shape)
    grads["W1"], dh0 = numpy_conv_grads(h0, p["W1"], da1)
    dm0 = dh0 * (1 - h0 * h0)
    grads["b0"] = dm0.sum(axis=(0, 2, 3))
    da0 = (hit0 * dm0[:, :, :, None, :, None]).reshape(a0.shape)
    grads["W0"], _ = numpy_conv_grads(x.reshape(len(x), 1, 28, 28), p["W0"], da0, False)
    for k, g in grads.items():
        p[k] -= (0.1 * g).astype(p[k].dtype)
    return cost


def numpy_step(name, params, data, batch_size, dtype):
    p = {k: v.copy() for k, v in params.items()}
    xs, ys = data[0].astype(dtype), data[1]
    rng = numpy.random.default_rng(0)

    # Each step returns the cost, as the port's and PyTorch's do (the
    # scripts print it): the same work in all three
    def dA_grads(x, W, b, bp, corruption):
        mask = rng.random(x.shape) >= corruption if corruption else 1
        tx = x * mask
        h = sigmoid(tx @ W + b)
        logits = h @ W.T + bp
        z = sigmoid(logits)
        # -x log z - (1 - x) log(1 - z) = softplus(logits) - x logits
        softplus = numpy.maximum(logits, 0) + numpy.log1p(numpy.exp(-numpy.abs(logits)))
        cost = (softplus - x * logits).sum() / len(x)
        dz = (z - x) / len(x)               # cross-entropy through the sigmoid
        dh = (dz @ W) * h * (1 - h)
        return (tx.T @ dh + dz.T @ h, dh.sum(0), dz.sum(0)), cost

    def step(i):
        x = xs[i * batch_size:(i + 1) * batch_size]
        y = ys[i * batch_size:(i + 1) * batch_size]
        if name == "LeNet":
            return numpy_lenet_step(p, x, y)
        elif name == "logistic regression":
            d, cost = softmax_grad(x @ p["W"] + p["b"], y)
            p["W"] -= 0.13 * (x.T @ d)
            p["b"] -= 0.13 * d.sum(0)
        elif name == "MLP":
            h = numpy.tanh(x @ p["W1"] + p["b1"])
            d2, cost = softmax_grad(h @ p["W2"] + p["b2"], y)
            cost += 0.0001 * ((p["W1"] ** 2).sum() + (p["W2"] ** 2).sum())
            dh = (d2 @ p["W2"].T) * (1 - h * h)
            p["W2"] -= 0.01 * (h.T @ d2 + 0.0002 * p["W2"])
            p["b2"] -= 0.01 * d2.sum(0)
            p["W1"] -= 0.01 * (x.T @ dh + 0.0002 * p["W1"])
            p["b1"] -= 0.01 * dh.sum(0)
        elif name.startswith("dA"):
            (gW, gb, gbp), cost = dA_grads(x, p["W"], p["b"], p["b_prime"], corruption(name))
            p["W"] -= 0.1 * gW
            p["b"] -= 0.1 * gb
            p["b_prime"] -= 0.1 * gbp
        elif name.startswith("SdA pre"):
            (gW, gb, gbp), cost = dA_grads(x, p["W0"], p["b0"], p["b_prime0"], corruption(name))
            p["W0"] -= 0.001 * gW
            p["b0"] -= 0.001 * gb
            p["b_prime0"] -= 0.001 * gbp
        else:
            acts = [x]
            for k in range(3):
                acts.append(sigmoid(acts[-1] @ p[f"W{k}"] + p[f"b{k}"]))
            d, cost = softmax_grad(acts[-1] @ p["W3"] + p["b3"], y)
            grads = {"W3": acts[-1].T @ d, "b3": d.sum(0)}
            d = d @ p["W3"].T
            for k in (2, 1, 0):
                d = d * acts[k + 1] * (1 - acts[k + 1])
                grads[f"W{k}"], grads[f"b{k}"] = acts[k].T @ d, d.sum(0)
                d = d @ p[f"W{k}"].T
            for k, g in grads.items():
                p[k] -= 0.1 * g
        return cost
    return step, lambda: p


# ---------------------------------------------------------------------------
# PyTorch: the same step with autograd
# ---------------------------------------------------------------------------

def torch_step(name, params, data, batch_size, dtype):
    import torch
    tdtype = getattr(torch, dtype)
    p = {k: torch.tensor(v, dtype=tdtype, requires_grad=True) for k, v in params.items()}
    xs = torch.tensor(data[0], dtype=tdtype)
    ys = torch.tensor(data[1], dtype=torch.int64)
    gen = torch.Generator().manual_seed(0)
    F = torch.nn.functional

    def dA_cost(x, W, b, bp, corruption):
        tx = x * (torch.rand(x.shape, generator=gen, dtype=tdtype) >= corruption) if corruption else x
        h = torch.sigmoid(tx @ W + b)
        logits = h @ W.T + bp
        return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)

    def step(i):
        x = xs[i * batch_size:(i + 1) * batch_size]
        y = ys[i * batch_size:(i + 1) * batch_size]
        if name == "LeNet":
            h = x.reshape(len(x), 1, 28, 28)
            for k in range(2):
                # PyTorch's conv2d does not turn the filters round; Theano's did
                h = torch.tanh(F.max_pool2d(F.conv2d(h, p[f"W{k}"].flip([2, 3])), 2)
                               + p[f"b{k}"][None, :, None, None])
            h = torch.tanh(h.flatten(1) @ p["W2"] + p["b2"])
            cost, lr = F.cross_entropy(h @ p["W3"] + p["b3"], y), 0.1
        elif name == "logistic regression":
            cost, lr = F.cross_entropy(x @ p["W"] + p["b"], y), 0.13
        elif name == "MLP":
            h = torch.tanh(x @ p["W1"] + p["b1"])
            cost = F.cross_entropy(h @ p["W2"] + p["b2"], y) + 0.0001 * (
                (p["W1"] ** 2).sum() + (p["W2"] ** 2).sum())
            lr = 0.01
        elif name.startswith("dA"):
            cost, lr = dA_cost(x, p["W"], p["b"], p["b_prime"], corruption(name)), 0.1
        elif name.startswith("SdA pre"):
            cost, lr = dA_cost(x, p["W0"], p["b0"], p["b_prime0"], corruption(name)), 0.001
        else:
            h = x
            for k in range(3):
                h = torch.sigmoid(h @ p[f"W{k}"] + p[f"b{k}"])
            cost, lr = F.cross_entropy(h @ p["W3"] + p["b3"], y), 0.1
        used = [t for t in p.values()]
        grads = torch.autograd.grad(cost, used, allow_unused=True)
        with torch.no_grad():
            for t, g in zip(used, grads):
                if g is not None:
                    t -= lr * g
        return cost.detach()
    return step, lambda: {k: v.detach().numpy() for k, v in p.items()}


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------

def flops_per_step(name, batch_size):
    """Multiply-add FLOPs of the matrix products in one step (forward and backward)."""
    mm = lambda m, k, n: 2 * m * k * n  # noqa: E731
    if name == "logistic regression":
        return 2 * mm(batch_size, 784, 10)
    if name == "LeNet":
        # layer 0: forward and the filters' gradient (no input gradient: it is
        # the data); layer 1: forward and both gradients; then the perceptron
        return (2 * mm(batch_size * 24 * 24, 25, 20) + 3 * mm(batch_size * 8 * 8, 500, 50)
                + 3 * mm(batch_size, 800, 500) + 3 * mm(batch_size, 500, 10))
    if name == "MLP":
        return 2 * mm(batch_size, 784, 500) + 3 * mm(batch_size, 500, 10)
    if name.startswith("dA"):
        return 5 * mm(batch_size, 784, 500)
    if name.startswith("SdA pre"):
        return 5 * mm(batch_size, 784, 1000)
    return 3 * (mm(batch_size, 784, 1000) + 2 * mm(batch_size, 1000, 1000)) \
        + 3 * mm(batch_size, 1000, 10) - mm(batch_size, 784, 1000)


def peak_gemm(dtype, n=1024, repeats=5):
    a = numpy.random.default_rng(0).random((n, n)).astype(dtype)
    best = min(timeit.repeat(lambda: a @ a, number=3, repeat=repeats)) / 3
    return 2 * n ** 3 / best


ROUNDS = 5


def side_by_side(steps, n_batches, seconds):
    """Seconds per step of each function in steps, timed in turns: ROUNDS
    rounds, each giving every function seconds / ROUNDS, and the best round
    of each kept. A neighbour that slows the machine for a while (this is a
    shared virtual machine) then costs each side a round, not one side its
    whole measurement."""
    best = [float("inf")] * len(steps)
    for _ in range(ROUNDS):
        for n, step in enumerate(steps):
            best[n] = min(best[n], time_steps(step, n_batches, seconds / ROUNDS))
    return best


def time_steps(step, n_batches, seconds):
    for i in range(3):
        step(i % n_batches)
    count, start = 0, timeit.default_timer()
    while timeit.default_timer() - start < seconds or count < 20:
        step(count % n_batches)
        count += 1
    return (timeit.default_timer() - start) / count


def conv_alone(dtype, seconds):
    """LeNet's second convolution layer by itself: the forward pass and both
    gradients, for a fixed output gradient. Returns ms per call for the port,
    PyTorch and NumPy, and the largest relative difference between them."""
    import torch
    from conv import conv2d
    rng = numpy.random.default_rng(0)
    x_shape, w_shape = CONV_SHAPES
    xv = rng.standard_normal(x_shape).astype(dtype)
    wv = (0.1 * rng.standard_normal(w_shape)).astype(dtype)
    gv = rng.standard_normal((x_shape[0], w_shape[0], 8, 8)).astype(dtype)
    xs, ws, gs = (pytensor.shared(v) for v in (xv, wv, gv))
    out = conv2d(xs, ws, filter_shape=w_shape, image_shape=x_shape)
    port = pytensor.function([], [out] + pt.grad((out * gs).sum(), [ws, xs]))
    tx, tw = (torch.tensor(v, requires_grad=True) for v in (xv, wv))
    tg = torch.tensor(gv)

    def pytorch():
        o = torch.nn.functional.conv2d(tx, tw.flip([2, 3]))
        return [o] + list(torch.autograd.grad(o, [tw, tx], tg))

    def by_numpy():
        return [numpy_conv(xv, wv), *numpy_conv_grads(xv, wv, gv)]
    results = [port(), [t.detach().numpy() for t in pytorch()], by_numpy()]
    worst = max(numpy.max(numpy.abs(a - b)) / numpy.max(numpy.abs(a))
                for other in results[1:] for a, b in zip(results[0], other))
    assert worst < (1e-4 if dtype == "float32" else 1e-10), f"conv {dtype}: {worst:.2e}"
    ms = [1e3 * t for t in side_by_side([lambda i, f=f: f() for f in (port, pytorch, by_numpy)],
                                        1, seconds)]
    return ms, worst


def check_same_update(name, dtype, data):
    """One step from the same start: the three give the same parameters."""
    CHECKING[0] = True
    batch_size = dict(STEPS)[name]
    params = initial_params(name, dtype)
    if name == "LeNet":
        # MNIST's blank margins make blocks of equal maxima in layer 0's
        # pooling, where Theano's rule (the gradient to every tied maximum,
        # which the port keeps) and PyTorch's (to one of them) differ: a
        # little noise on the digits leaves no ties for this check
        noise = numpy.random.default_rng(1).uniform(0, 1e-3, data[0].shape)
        data = ((data[0] + noise).astype(data[0].dtype), data[1])
    results, costs = [], []
    for build in (port_step, torch_step, numpy_step):
        step, get = build(name, params, data, batch_size, dtype)
        costs.append(float(step(1)))
        results.append(get())
    CHECKING[0] = False
    tol = 2e-4 if dtype == "float32" else 1e-9
    # the cost each step returns (all three compute it), then the parameters
    worst = max(abs(c - costs[0]) / abs(costs[0]) for c in costs[1:])
    for key in results[0]:
        for other in results[1:]:
            diff = numpy.max(numpy.abs(results[0][key] - other[key]))
            scale = max(numpy.max(numpy.abs(params[key] - results[0][key])), 1e-12)
            worst = max(worst, diff / scale)
    assert worst < tol, f"{name} {dtype}: the updates differ (relative {worst:.2e})"
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 1 s per measurement")
    parser.add_argument("--write", metavar="FILE", help="also write the table as Markdown")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="threads for BLAS and PyTorch; several counts give one "
                             "table each (default: all cores)")
    parser.add_argument("--no-speedups", action="store_true",
                        help="time the port on stock PyTensor, without numba_speedups/")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="OpenBLAS threads, if not those of --threads (LeNet's script "
                             "runs one BLAS thread and shares its convolution out itself)")
    parser.add_argument("--steps", nargs="+", metavar="NAME", default=None,
                        help="only the steps whose names start with these words, e.g. "
                             "dA LeNet (default: all)")
    parser.add_argument("--part", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    steps = [(name, size) for name, size in STEPS
             if not args.steps or any(name.lower().startswith(w.lower()) for w in args.steps)]
    if not steps:
        parser.error(f"no step starts with {' or '.join(args.steps)}; the steps: "
                     + ", ".join(name for name, _ in STEPS))
    if args.threads and len(args.threads) > 1:
        return each_thread_count(args)
    installed = numba_speedups.install(enabled=not args.no_speedups)
    print("the port runs " + ("with the speed-ups of numba_speedups/ installed" if installed
                              else "on stock PyTensor, without speed-ups"))
    import torch
    if args.threads:
        torch.set_num_threads(args.threads[0])
    seconds = 1.0 if args.quick else 3.0

    (train_x, train_y), _, _ = utils.load_mnist()
    data = (train_x[:1200], train_y[:1200].astype("int32"))
    rows = []
    for dtype in args.dtypes:
        pytensor.config.floatX = dtype
        peak = peak_gemm(dtype)
        print(f"\n{dtype}: peak GEMM {peak / 1e9:.1f} GFLOP/s (NumPy, 1024x1024)")
        for name, batch_size in steps:
            worst = check_same_update(name, dtype, data)
            n_batches = len(data[0]) // batch_size
            labels, steps_ = ("port", "PyTorch", "NumPy"), []
            for build in (port_step, torch_step, numpy_step):
                steps_.append(build(name, initial_params(name, dtype), data, batch_size,
                                    dtype)[0])
            ms = {label: 1e3 * t for label, t in
                  zip(labels, side_by_side(steps_, n_batches, seconds))}
            bound = 1e3 * flops_per_step(name, batch_size) / peak
            epoch = N_TRAIN // batch_size / 1e3
            row = (dtype, name, batch_size, ms["port"], ms["PyTorch"], ms["NumPy"],
                   ms["port"] / ms["PyTorch"], ms["port"] * epoch, ms["PyTorch"] * epoch, bound,
                   worst)
            rows.append(row)
            print(f"  {name:28s} port {ms['port']:8.3f} ms  PyTorch {ms['PyTorch']:8.3f} ms  "
                  f"NumPy {ms['NumPy']:8.3f} ms  ratio {row[6]:5.2f}  "
                  f"epoch {row[7]:7.1f} s  FLOP bound {bound:7.4f} ms")
        if "LeNet" not in dict(steps):
            continue
        (port, pytorch, by_numpy), worst = conv_alone(dtype, seconds)
        bound = 1e3 * 3 * 2 * 500 * 64 * 500 * 50 / peak
        name = "LeNet conv layer 1 alone"
        rows.append((dtype, name, 500, port, pytorch, by_numpy, port / pytorch, port * 0.1,
                     pytorch * 0.1, bound, worst))
        print(f"  {name:28s} port {port:8.3f} ms  PyTorch {pytorch:8.3f} ms  "
              f"NumPy {by_numpy:8.3f} ms  ratio {port / pytorch:5.2f}  "
              f"(forward and both gradients)  FLOP bound {bound:7.4f} ms")
    if args.write:
        with open(args.write, "w") as f:
            f.write(table(rows, torch.__version__, torch.get_num_threads(), installed))
            if not args.part:
                f.write(f"\nCommand: {command_line()}.\n")
        print("written to", args.write)


def each_thread_count(args):
    """Rerun this script once per thread count (BLAS reads it only at start)."""
    import subprocess
    import tempfile
    tables = []
    for n in args.threads:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "table.md")
            command = [sys.executable, os.path.abspath(__file__), "--threads", str(n),
                       "--dtypes", *args.dtypes, "--write", out, "--part"]
            command += ["--no-speedups"] if args.no_speedups else []
            if args.blas_threads:
                command += ["--blas-threads", str(args.blas_threads)]
            if args.steps:
                command += ["--steps", *args.steps]
            subprocess.run(command + (["--quick"] if args.quick else []), check=True)
            with open(out) as f:
                tables.append(f"### {n} thread{'s' if n > 1 else ''}\n\n" + f.read())
    if args.write:
        with open(args.write, "w") as f:
            f.write("\n".join(tables) + f"\nCommand: {command_line()}.\n")
        print("written to", args.write)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def table(rows, torch_version, threads, speedups):
    lines = [
        "| dtype | step | batch | port ms | PyTorch ms | NumPy ms | port / PyTorch "
        "| port / faster of PyTorch, NumPy | port s/epoch | PyTorch s/epoch | FLOP bound ms "
        "| port / FLOP bound |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.3f} | {r[4]:.3f} | {r[5]:.3f} "
                     f"| {r[6]:.2f} | {r[3] / min(r[4], r[5]):.2f} | {r[7]:.1f} | {r[8]:.1f} "
                     f"| {r[9]:.4f} | {r[3] / r[9]:.1f} |")
    machine = (f"{cpu_name()}, {os.cpu_count()} cores, "
               f"Python {platform.python_version()}, PyTensor {pytensor.__version__} "
               f"(default mode, {'with' if speedups else 'without'} numba_speedups), "
               f"NumPy {numpy.__version__}, PyTorch {torch_version} "
               f"({threads} thread{'' if threads == 1 else 's'}; OpenBLAS "
               f"{os.environ.get('OPENBLAS_NUM_THREADS', 'its default')})")
    return "\n".join(lines) + f"\n\nMachine: {machine}.\n"


def command_line():
    return "`python bench/bench.py " + " ".join(sys.argv[1:]) + "`"


if __name__ == "__main__":
    main()
