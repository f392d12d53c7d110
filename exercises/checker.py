"""Checks a student's exercise file against the reference model.

Each check prints one line: PASS or FAIL, what it checks, what was expected
and what came. A check that hits unwritten code (NotImplementedError) or an
error in the student's code fails with that message instead of a traceback.
The references are the project's own classes in code/ and NumPy formulas.
"""
import contextlib
import glob
import importlib.util
import io
import json
import os
import re
import secrets
import subprocess
import sys
import traceback

import numpy

import pytensor
import pytensor.tensor as pt

from exercises import HERE

EXERCISES = {
    1: ("ex1_losses.py", "The zero-one loss and negative log-likelihood of LogisticRegression"),
    2: ("ex2_regularisation.py", "L1 and L2 regularisation of the MLP"),
    3: ("ex3_corruption.py", "The corruption step of the denoising autoencoder"),
    4: ("ex4_dA_cost.py", "The dA cost and its SGD updates"),
    5: ("ex5_sparse_ae.py", "A sparse autoencoder (KL sparsity penalty, weight decay)"),
    6: ("ex6_pretraining.py", "The layer-wise pre-training functions of the SdA"),
    7: ("ex7_pooling.py", "Max-pooling and the output of a LeNet layer"),
}
CHECKS = {}


def exercise(number):
    def register(fn):
        CHECKS[number] = fn
        return fn
    return register


class Mismatch(Exception):
    """A check whose result differs: carries (expected, got)."""


def _fmt(value):
    value = numpy.asarray(value)
    if value.size == 1:
        return f"{float(value):.6g}"
    return f"array of shape {value.shape}, first values {numpy.round(value.ravel()[:3], 5)}"


def expect_close(expected, got, rtol=1e-6, atol=1e-9):
    got = numpy.asarray(got, dtype="float64")
    expected = numpy.asarray(expected, dtype="float64")
    if got.shape != expected.shape:
        raise Mismatch(f"shape {expected.shape}", f"shape {got.shape}")
    if not numpy.allclose(got, expected, rtol=rtol, atol=atol):
        raise Mismatch(_fmt(expected), _fmt(got))
    return _fmt(got)


def expect(condition, expected, got):
    if not condition:
        raise Mismatch(expected, got)
    return got


def expect_raises(kinds, build, what):
    try:
        build()
    except kinds as e:
        return f"{type(e).__name__}"
    except NotImplementedError:
        raise
    except Exception as e:
        raise Mismatch(f"{' or '.join(k.__name__ for k in kinds)} for {what}",
                       f"{type(e).__name__}: {e}") from None
    raise Mismatch(f"{' or '.join(k.__name__ for k in kinds)} for {what}", "no error")


class Report(object):
    def __init__(self, title):
        self.title = title
        self.lines = []
        self.passed = 0
        self.total = 0

    def check(self, name, fn):
        self.total += 1
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                got = fn()
            ok, detail = True, f"got {got}"
        except Mismatch as e:
            ok, detail = False, f"expected {e.args[0]}, got {e.args[1]}"
        except NotImplementedError as e:
            ok, detail = False, f"not written yet ({e})"
        except Exception as e:
            ok, detail = False, f"your code raised {type(e).__name__}: {e}{_where(e)}"
        self.passed += ok
        self.lines.append(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")

    def text(self):
        return "\n".join([self.title] + ["  " + line for line in self.lines]
                         + [f"  score: {self.passed}/{self.total} checks passed"])


def _where(error):
    """' (file.py, line N)' for the innermost frame in an exercise file."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if os.path.basename(f.filename).startswith("ex")]
    if not frames:
        return ""
    return f" ({os.path.basename(frames[-1].filename)}, line {frames[-1].lineno})"


def load_student(path):
    name = "student_" + re.sub(r"\W", "_", os.path.abspath(path))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_file(number, path=None):
    """Run exercise ``number``'s checks on ``path``, in this process; returns
    the Report. (check_isolated runs them in a process of their own.)"""
    filename, title = EXERCISES[number]
    path = path or os.path.join(HERE, filename)
    report = Report(f"Exercise {number}: {title} -- {path}")
    # the checker as it is now: a student's file may change it while it loads
    checker_before = dict(globals())
    report_before = dict(vars(Report))
    try:
        module = load_student(path)
    except Exception as e:
        report.total = 1
        report.lines.append(f"FAIL  the file loads: {type(e).__name__}: {e}")
        return report
    finally:
        globals().update(checker_before)
        for name, value in report_before.items():
            if name not in ("__dict__", "__weakref__"):
                setattr(Report, name, value)
    with pytensor.config.change_flags(floatX="float64", mode="FAST_COMPILE"):
        CHECKS[number](report, module)
    if report.total == 0:
        report.total = 1
        report.lines.append("FAIL  the checks ran: none of them reported")
    return report


TIME_LIMIT = 120   # seconds for one student's file, loading and checks together


def check_isolated(number, path=None, time_limit=TIME_LIMIT):
    """check_file in a process of its own, with a time limit: whatever the
    student's code does (exit, loop forever, replace the checker's classes)
    reaches no other student's report and cannot stop the class run. The
    report comes back on a line tagged with a secret the child reads before
    it loads the student's code."""
    filename, title = EXERCISES[number]
    path = path or os.path.join(HERE, filename)
    secret = secrets.token_hex(16)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "exercises", "_isolated", str(number), path],
            input=secret + "\n", capture_output=True, text=True, timeout=time_limit,
            cwd=os.path.dirname(HERE))
    except subprocess.TimeoutExpired:
        return _failed(number, path, f"the checks took longer than {time_limit} s "
                                     "(an endless loop?) and were stopped")
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(secret + " "):
            data = json.loads(line[len(secret) + 1:])
            report = Report(data["title"])
            report.lines, report.passed, report.total = (
                data["lines"], data["passed"], data["total"])
            return report
    return _failed(number, path, f"the file ended the checker before its checks were done "
                                 f"(exit code {done.returncode})")


def _failed(number, path, why):
    filename, title = EXERCISES[number]
    report = Report(f"Exercise {number}: {title} -- {path}")
    report.total = 1
    report.lines.append(f"FAIL  the checks ran: {why}")
    return report


def isolated_child(number, path):
    """The child's side of check_isolated: read the secret, then check."""
    secret = sys.stdin.readline().strip()
    sys.stdin.close()
    write, dumps = sys.__stdout__.write, json.dumps
    report = check_file(number, path)
    write("\n" + secret + " " + dumps({"title": report.title, "lines": report.lines,
                                        "passed": report.passed, "total": report.total}) + "\n")
    sys.__stdout__.flush()


def find_exercise(path):
    match = re.search(r"ex(\d)_", os.path.basename(path))
    return int(match.group(1)) if match and int(match.group(1)) in EXERCISES else None


def check_class(folder, on_report=None, time_limit=TIME_LIMIT):
    """Every ex<N>_*.py under folder (a file per student, or a folder each),
    each checked in a process of its own; on_report(path, number, report) is
    called as each one finishes."""
    reports = []
    for path in sorted(glob.glob(os.path.join(folder, "**", "ex*_*.py"), recursive=True)):
        number = find_exercise(path)
        if number is not None:
            report = check_isolated(number, path, time_limit)
            reports.append((path, number, report))
            if on_report is not None:
                on_report(path, number, report)
    return reports


# ---------------------------------------------------------------------------
# Shared fixtures: small fixed inputs and a slice of MNIST
# ---------------------------------------------------------------------------

def _rng(seed=0):
    return numpy.random.default_rng(seed)


_MNIST = {}


def mnist_slice(n=500):
    if n not in _MNIST:
        import utils
        (x, y), _, _ = utils.load_mnist()
        _MNIST[n] = (x[:n].astype("float64"), y[:n].astype("int32"))
    return _MNIST[n]


def _sigmoid(a):
    return 1 / (1 + numpy.exp(-a))


def _softmax(a):
    e = numpy.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sgd_run(cost, params, inputs, values, lr, steps, updates_extra=()):
    updates = [(p, p - lr * g) for p, g in zip(params, pt.grad(cost, params))]
    step = pytensor.function(inputs, cost, updates=updates + list(updates_extra))
    return [float(step(*values)) for _ in range(steps)]


# ---------------------------------------------------------------------------
# Exercise 1: losses of logistic regression
# ---------------------------------------------------------------------------

@exercise(1)
def _check_losses(report, module):
    rng = _rng(1)
    xv = rng.normal(size=(6, 5))
    yv = numpy.array([0, 2, 1, 2, 0, 1], dtype="int32")
    Wv, bv = rng.normal(size=(5, 3)), rng.normal(size=3)
    p = _softmax(xv @ Wv + bv)

    def model():
        x = pt.matrix("x")
        m = module.LogisticRegression(input=x, n_in=5, n_out=3)
        m.W.set_value(Wv)
        m.b.set_value(bv)
        return x, m

    def nll_value():
        x, m = model()
        y = pt.ivector("y")
        got = m.negative_log_likelihood(y).eval({x: xv, y: yv})
        return expect_close(-numpy.mean(numpy.log(p[numpy.arange(6), yv])), got)

    def nll_is_a_mean():
        x, m = model()
        y = pt.ivector("y")
        nll = m.negative_log_likelihood(y)
        once = nll.eval({x: xv, y: yv})
        twice = nll.eval({x: numpy.vstack([xv, xv]), y: numpy.concatenate([yv, yv])})
        expect_close(once, twice)
        return "the same value for the batch and for the batch twice over"

    def errors_value():
        x, m = model()
        y = pt.ivector("y")
        got = m.errors(y).eval({x: xv, y: yv})
        return expect_close(numpy.mean(p.argmax(axis=1) != yv), got)

    def errors_refuses_floats():
        x, m = model()
        m.errors(pt.ivector("y"))     # written, and fine with int labels
        return expect_raises((NotImplementedError, TypeError), lambda: m.errors(pt.vector("y")),
                             "float labels")

    def errors_refuses_wrong_rank():
        x, m = model()
        m.errors(pt.ivector("y"))
        return expect_raises((TypeError,), lambda: m.errors(pt.imatrix("y")),
                             "a matrix of labels")

    def gradient():
        x, m = model()
        y = pt.ivector("y")
        g = pytensor.function([x, y], pt.grad(m.negative_log_likelihood(y), m.W))(xv, yv)
        onehot = numpy.eye(3)[yv]
        return expect_close(xv.T @ (p - onehot) / len(yv), g)

    def training():
        xs, ys = mnist_slice(300)
        x, y = pt.matrix("x"), pt.ivector("y")
        m = module.LogisticRegression(input=x, n_in=784, n_out=10)
        costs = _sgd_run(m.negative_log_likelihood(y), m.params, [x, y], [xs, ys], 0.13, 20)
        expect(costs[-1] < 0.5 * costs[0], "the cost to halve in 20 SGD steps",
               f"{costs[0]:.4f} -> {costs[-1]:.4f}")
        return f"{costs[0]:.4f} -> {costs[-1]:.4f}"

    report.check("negative_log_likelihood on a fixed minibatch", nll_value)
    report.check("negative_log_likelihood is a mean over the minibatch", nll_is_a_mean)
    report.check("errors on a fixed minibatch", errors_value)
    report.check("errors refuses float labels", errors_refuses_floats)
    report.check("errors refuses labels of the wrong rank", errors_refuses_wrong_rank)
    report.check("gradient of the NLL with respect to W", gradient)
    report.check("20 SGD steps on 300 MNIST digits lower the cost", training)


# ---------------------------------------------------------------------------
# Exercise 2: regularisation of the MLP
# ---------------------------------------------------------------------------

@exercise(2)
def _check_regularisation(report, module):
    rng = _rng(2)

    def model():
        x, y = pt.matrix("x"), pt.ivector("y")
        m = module.MLP(numpy.random.RandomState(1234), x, 5, 4, 3)
        for param in m.params:
            param.set_value(rng.normal(size=param.get_value().shape))
        return x, y, m

    def weights(m):
        return m.hiddenLayer.W.get_value(), m.logRegressionLayer.W.get_value()

    def l1():
        _, _, m = model()
        W1, W2 = weights(m)
        return expect_close(numpy.abs(W1).sum() + numpy.abs(W2).sum(), m.L1.eval())

    def l2():
        _, _, m = model()
        W1, W2 = weights(m)
        return expect_close((W1 ** 2).sum() + (W2 ** 2).sum(), m.L2_sqr.eval())

    def biases_left_out():
        _, _, m = model()
        before = (m.L1.eval(), m.L2_sqr.eval())
        m.hiddenLayer.b.set_value(m.hiddenLayer.b.get_value() + 10)
        m.logRegressionLayer.b.set_value(m.logRegressionLayer.b.get_value() - 10)
        expect_close(before, (m.L1.eval(), m.L2_sqr.eval()))
        return "L1 and L2_sqr unchanged when the biases change"

    xv, yv = rng.normal(size=(4, 5)), numpy.array([0, 1, 2, 1], dtype="int32")

    def cost_value():
        x, y, m = model()
        cost = module.regularised_cost(m, y, 0.01, 0.001)
        nll = m.negative_log_likelihood(y).eval({x: xv, y: yv})
        expected = nll + 0.01 * m.L1.eval() + 0.001 * m.L2_sqr.eval()
        return expect_close(expected, cost.eval({x: xv, y: yv}))

    def gradient():
        x, y, m = model()
        W1 = m.hiddenLayer.W
        cost = module.regularised_cost(m, y, 0.01, 0.001)
        got = pytensor.function([x, y], pt.grad(cost, W1))(xv, yv)
        nll_grad = pytensor.function([x, y], pt.grad(m.negative_log_likelihood(y), W1))(xv, yv)
        W = W1.get_value()
        return expect_close(nll_grad + 0.01 * numpy.sign(W) + 0.002 * W, got)

    def training():
        xs, ys = mnist_slice(300)
        x, y = pt.matrix("x"), pt.ivector("y")
        m = module.MLP(numpy.random.RandomState(1234), x, 784, 50, 10)
        costs = _sgd_run(module.regularised_cost(m, y, 0.0, 0.0001), m.params,
                         [x, y], [xs, ys], 0.1, 60)
        expect(costs[-1] < 0.7 * costs[0], "the cost to fall by 30 % in 60 SGD steps",
               f"{costs[0]:.4f} -> {costs[-1]:.4f}")
        return f"{costs[0]:.4f} -> {costs[-1]:.4f}"

    report.check("L1 is the sum of |W| over both layers", l1)
    report.check("L2_sqr is the sum of W**2 over both layers", l2)
    report.check("the biases are not regularised", biases_left_out)
    report.check("regularised_cost = NLL + L1_reg * L1 + L2_reg * L2_sqr", cost_value)
    report.check("gradient of the cost with respect to the hidden weights", gradient)
    report.check("60 SGD steps on 300 MNIST digits lower the cost", training)


# ---------------------------------------------------------------------------
# Exercises 3 and 4: the denoising autoencoder
# ---------------------------------------------------------------------------

def _dA(cls, n_visible=784, n_hidden=20, **kw):
    return cls(numpy_rng=numpy.random.RandomState(123), n_visible=n_visible,
               n_hidden=n_hidden, **kw)


def _corrupt_fn(da, level):
    tilde = da.get_corrupted_input(da.x, level)
    update = getattr(da, "rng_update", None)
    expect(update is not None and len(update) == 2 and update[0] is da.pytensor_rng,
           "self.rng_update = (self.pytensor_rng, next_state)",
           repr(update) if update is not None else "no self.rng_update")
    return pytensor.function([da.x], tilde, updates=[update])


@exercise(3)
def _check_corruption(report, module):
    xv = _rng(3).uniform(0.1, 1.0, size=(200, 500))

    def shape_and_type():
        da = _dA(module.dA, n_visible=500)
        out = _corrupt_fn(da, 0.3)(xv)
        expect(out.shape == xv.shape, f"shape {xv.shape}", f"shape {out.shape}")
        return expect(out.dtype == pytensor.config.floatX, f"dtype {pytensor.config.floatX}",
                      f"dtype {out.dtype}")

    def level_zero():
        out = _corrupt_fn(_dA(module.dA, n_visible=500), 0.0)(xv)
        return expect_close(xv, out)

    def kept_fraction():
        out = _corrupt_fn(_dA(module.dA, n_visible=500), 0.3)(xv)
        kept = numpy.mean(out != 0)
        tolerance = 5 * numpy.sqrt(0.3 * 0.7 / out.size)
        expect(abs(kept - 0.7) < tolerance, f"a kept fraction of 0.7 +- {tolerance:.4f}",
               f"{kept:.4f}")
        return f"kept fraction {kept:.4f}"

    def kept_values_unchanged():
        out = _corrupt_fn(_dA(module.dA, n_visible=500), 0.5)(xv)
        kept = out != 0
        expect_close(xv[kept], out[kept])
        return "kept entries equal the input, the rest are 0"

    def new_mask_each_call():
        corrupt = _corrupt_fn(_dA(module.dA, n_visible=500), 0.5)
        first, second = corrupt(xv) != 0, corrupt(xv) != 0
        expect(not numpy.array_equal(first, second), "a different mask on the second call",
               "the same mask twice")
        return "masks differ between calls"

    report.check("output shape and dtype", shape_and_type)
    report.check("corruption 0 keeps the input as it is", level_zero)
    report.check("corruption 0.3 keeps about 70 % of the entries", kept_fraction)
    report.check("kept entries keep their values", kept_values_unchanged)
    report.check("a new mask on every call", new_mask_each_call)


def _reference_cost(xv, W, b, b_prime):
    z = _sigmoid(_sigmoid(xv @ W + b) @ W.T + b_prime)
    return numpy.mean(-numpy.sum(xv * numpy.log(z) + (1 - xv) * numpy.log(1 - z), axis=1))


@exercise(4)
def _check_dA_cost(report, module):
    xv = _rng(4).uniform(size=(10, 30))

    def cost_value():
        da = _dA(module.dA, n_visible=30, n_hidden=8)
        da.b.set_value(_rng(5).normal(size=8))
        da.b_prime.set_value(_rng(6).normal(size=30))
        cost, _ = da.get_cost_updates(corruption_level=0.0, learning_rate=0.1)
        expected = _reference_cost(xv, da.W.get_value(), da.b.get_value(), da.b_prime.get_value())
        return expect_close(expected, cost.eval({da.x: xv}))

    def cost_is_a_mean():
        da = _dA(module.dA, n_visible=30, n_hidden=8)
        cost, _ = da.get_cost_updates(corruption_level=0.0, learning_rate=0.1)
        expect_close(cost.eval({da.x: xv}), cost.eval({da.x: numpy.vstack([xv, xv])}))
        return "the same value for the batch and for the batch twice over"

    def updates_cover_everything():
        da = _dA(module.dA, n_visible=30, n_hidden=8)
        _, updates = da.get_cost_updates(corruption_level=0.3, learning_rate=0.1)
        updated = [u[0] for u in updates]
        wanted = [da.W, da.b, da.b_prime, da.pytensor_rng]
        missing = [v.name or "the random generator" for v in wanted
                   if not any(v is u for u in updated)]
        expect(not missing, "updates for W, b, b_prime and the random generator",
               "none for " + ", ".join(missing) if missing else "")
        return "W, b, b_prime and the random generator"

    def one_sgd_step():
        import dA as dA_module
        mine = _dA(module.dA, n_visible=30, n_hidden=8)
        ref = _dA(dA_module.dA, n_visible=30, n_hidden=8)
        for da in (mine, ref):
            cost, updates = da.get_cost_updates(corruption_level=0.0, learning_rate=0.5)
            pytensor.function([da.x], cost, updates=updates)(xv)
        for name in ("W", "b", "b_prime"):
            expect_close(getattr(ref, name).get_value(), getattr(mine, name).get_value())
        return "W, b and b_prime equal the reference after one step"

    def training():
        xs, _ = mnist_slice(200)
        da = _dA(module.dA, n_visible=784, n_hidden=50)
        cost, updates = da.get_cost_updates(corruption_level=0.3, learning_rate=0.1)
        step = pytensor.function([da.x], cost, updates=updates)
        costs = [float(step(xs[i * 20:(i + 1) * 20])) for i in range(10) for _ in range(3)]
        expect(numpy.mean(costs[-5:]) < numpy.mean(costs[:5]), "the cost to fall",
               f"{numpy.mean(costs[:5]):.3f} -> {numpy.mean(costs[-5:]):.3f}")
        return f"{numpy.mean(costs[:5]):.3f} -> {numpy.mean(costs[-5:]):.3f}"

    report.check("the cost at corruption 0 on a fixed minibatch", cost_value)
    report.check("the cost is a mean over the minibatch", cost_is_a_mean)
    report.check("the updates move every parameter and the random generator",
                 updates_cover_everything)
    report.check("one SGD step matches the reference dA", one_sgd_step)
    report.check("30 steps at 30 % corruption lower the cost on MNIST", training)


# ---------------------------------------------------------------------------
# Exercise 5: the sparse autoencoder
# ---------------------------------------------------------------------------

def _kl(rho, rho_hat):
    return numpy.sum(rho * numpy.log(rho / rho_hat)
                     + (1 - rho) * numpy.log((1 - rho) / (1 - rho_hat)))


@exercise(5)
def _check_sparse(report, module):
    hv = _rng(7).uniform(0.01, 0.5, size=(40, 6))
    xv = _rng(8).uniform(size=(12, 30))

    def kl_value():
        ae = _dA(module.SparseAE, n_visible=30, n_hidden=6)
        h = pt.matrix("h")
        return expect_close(_kl(0.05, hv.mean(axis=0)), ae.kl_sparsity(h, 0.05).eval({h: hv}))

    def kl_zero_at_target():
        ae = _dA(module.SparseAE, n_visible=30, n_hidden=6)
        h = pt.matrix("h")
        return expect_close(0.0, ae.kl_sparsity(h, 0.2).eval({h: numpy.full((5, 6), 0.2)}),
                            atol=1e-10)

    def cost_value():
        ae = _dA(module.SparseAE, n_visible=30, n_hidden=6)
        cost, _ = ae.get_cost_updates(0.0, 0.1, rho=0.1, beta=2.0, weight_decay=0.01)
        W, b, bp = ae.W.get_value(), ae.b.get_value(), ae.b_prime.get_value()
        hidden = _sigmoid(xv @ W + b)
        expected = (_reference_cost(xv, W, b, bp) + 2.0 * _kl(0.1, hidden.mean(axis=0))
                    + 0.01 / 2 * numpy.sum(W ** 2))
        return expect_close(expected, cost.eval({ae.x: xv}))

    def beta_zero_is_a_dA():
        import dA as dA_module
        ae = _dA(module.SparseAE, n_visible=30, n_hidden=6)
        ref = _dA(dA_module.dA, n_visible=30, n_hidden=6)
        mine = ae.get_cost_updates(0.0, 0.1, beta=0.0, weight_decay=0.0)[0].eval({ae.x: xv})
        theirs = ref.get_cost_updates(0.0, 0.1)[0].eval({ref.x: xv})
        return expect_close(theirs, mine)

    def updates_cover_everything():
        ae = _dA(module.SparseAE, n_visible=30, n_hidden=6)
        _, updates = ae.get_cost_updates(0.3, 0.1)
        updated = [u[0] for u in updates]
        ok = all(any(v is u for u in updated) for v in (ae.W, ae.b, ae.b_prime, ae.pytensor_rng))
        return expect(ok, "updates for W, b, b_prime and the random generator",
                      f"updates for {[getattr(u, 'name', None) for u in updated]}")

    def sparser_than_a_dA():
        import dA as dA_module
        xs, _ = mnist_slice(500)
        means = {}
        for label, cls in (("dA", dA_module.dA), ("sparse", module.SparseAE)):
            da = _dA(cls, n_visible=784, n_hidden=50)
            cost, updates = da.get_cost_updates(0.0, 0.1)
            step = pytensor.function([da.x], cost, updates=updates)
            for _ in range(2):
                for i in range(25):
                    step(xs[i * 20:(i + 1) * 20])
            means[label] = float(da.get_hidden_values(da.x).eval({da.x: xs}).mean())
        # the penalty pulls the mean towards rho = 0.05; without it (or with
        # its sign flipped) the code is as dense as the dA's, or denser
        expect(means["sparse"] < 0.6 * means["dA"],
               "a mean hidden activation below 0.6 times the plain dA's "
               f"({0.6 * means['dA']:.3f})", f"{means['sparse']:.3f}")
        return f"mean activation {means['sparse']:.3f} against the dA's {means['dA']:.3f}"

    report.check("kl_sparsity on fixed activations", kl_value)
    report.check("kl_sparsity is 0 when every unit's mean is the target", kl_zero_at_target)
    report.check("the cost = reconstruction + beta * KL + weight_decay / 2 * sum(W**2)",
                 cost_value)
    report.check("with beta = 0 and no weight decay the cost is the dA's", beta_zero_is_a_dA)
    report.check("the updates move every parameter and the random generator",
                 updates_cover_everything)
    report.check("after two epochs on 500 digits the code is sparser than a dA's",
                 sparser_than_a_dA)


# ---------------------------------------------------------------------------
# Exercise 6: the SdA's pre-training functions
# ---------------------------------------------------------------------------

@exercise(6)
def _check_pretraining(report, module):
    import SdA as SdA_module
    data = _rng(9).uniform(size=(40, 12))

    def build(cls):
        sda = cls(numpy_rng=numpy.random.RandomState(89677), n_ins=12,
                  hidden_layers_sizes=[8, 6], n_outs=3, corruption_levels=[0.1, 0.2])
        fns = sda.pretraining_functions(train_set_x=pytensor.shared(data), batch_size=10)
        return sda, fns

    def values(sda):
        return [da.W.get_value().copy() for da in sda.dA_layers] + \
               [da.b_prime.get_value().copy() for da in sda.dA_layers]

    def one_per_layer():
        _, fns = build(module.SdA)
        return expect(len(fns) == 2, "2 functions for 2 layers", f"{len(fns)} functions")

    def defaults():
        sda, fns = build(module.SdA)
        ref, ref_fns = build(SdA_module.SdA)
        # the default corruption draws masks, so compare the effect of lr=0.1
        # at corruption 0 with the defaults applied on the reference
        got = float(fns[0](index=1, corruption=0.0))
        expected = float(ref_fns[0](index=1, corruption=0.0, lr=0.1))
        expect_close(expected, got)
        expect_close(ref.dA_layers[0].W.get_value(), sda.dA_layers[0].W.get_value())
        fns[1](index=0)     # corruption and lr left at their defaults
        return "fn(index) and fn(index, corruption=...) both work; lr defaults to 0.1"

    def matches_reference():
        sda, fns = build(module.SdA)
        ref, ref_fns = build(SdA_module.SdA)
        for k in range(2):
            for i in range(4):
                expect_close(float(ref_fns[k](index=i, corruption=0.0, lr=0.3)),
                             float(fns[k](index=i, corruption=0.0, lr=0.3)))
        for mine, theirs in zip(values(sda), values(ref)):
            expect_close(theirs, mine)
        return "costs and parameters equal the reference over 4 minibatches per layer"

    def only_its_layer():
        sda, fns = build(module.SdA)
        before = values(sda)
        fns[1](index=2, corruption=0.0, lr=0.5)
        after = values(sda)
        expect(numpy.array_equal(before[0], after[0]) and numpy.array_equal(before[2], after[2]),
               "layer 0 untouched by layer 1's step", "layer 0 changed")
        expect(not numpy.array_equal(before[1], after[1]), "layer 1's W to change",
               "layer 1's W unchanged")
        return "a step of layer 1 moves layer 1 only"

    def learning_rate_honoured():
        sda, fns = build(module.SdA)
        before = values(sda)
        fns[0](index=0, corruption=0.3, lr=0.0)
        expect(all(numpy.array_equal(a, b) for a, b in zip(before, values(sda))),
               "no change with lr=0", "parameters changed")
        return "lr=0 changes nothing"

    report.check("one function per layer", one_per_layer)
    report.check("corruption and lr are optional, with defaults", defaults)
    report.check("each step matches the reference SdA's", matches_reference)
    report.check("a layer's step leaves the other layers alone", only_its_layer)
    report.check("the learning rate is an input", learning_rate_honoured)


# ---------------------------------------------------------------------------
# Exercise 7: max-pooling and a LeNet layer's output
# ---------------------------------------------------------------------------

def _numpy_pool(x, rows, cols):
    n, c, h, w = x.shape
    oh, ow = h // rows, w // cols
    return x[:, :, :oh * rows, :ow * cols].reshape(n, c, oh, rows, ow, cols).max(axis=(3, 5))


@exercise(7)
def _check_pooling(report, module):
    import conv
    conv.expect_object_mode()       # stock PyTensor's warnings about conv.py's NumPy code
    rng = _rng(7)
    square = rng.normal(size=(2, 3, 6, 6))
    odd = rng.normal(size=(2, 2, 7, 7))

    def pooled(values, poolsize):
        x = pt.tensor4("x")
        return pytensor.function([x], module.max_pool(x, poolsize))(values)

    def square_blocks():
        return expect_close(_numpy_pool(square, 2, 2), pooled(square, (2, 2)))

    def leftovers_dropped():
        return expect_close(_numpy_pool(odd, 2, 3), pooled(odd, (2, 3)))

    def any_batch_size():
        x = pt.tensor4("x")
        fn = pytensor.function([x], module.max_pool(x, (2, 2)))
        for n in (1, 5):
            values = rng.normal(size=(n, 2, 4, 6))
            expect_close(_numpy_pool(values, 2, 2), fn(values))
        return "one compiled function, batches of 1 and 5"

    def not_the_answer_key():
        x = pt.tensor4("x")
        fn = pytensor.function([x], module.max_pool(x, (2, 2)))
        ops = {type(node.op).__name__ for node in fn.maker.fgraph.toposort()}
        expect(not ops & {"MaxPool", "MaxPoolGrad"}, "PyTensor's own operations",
               "conv.max_pool_2d (the answer key)")
        return "built from PyTensor operations"

    def gradient_to_the_maxima():
        x = pt.tensor4("x")
        weights = rng.normal(size=(2, 2, 3, 2))
        got = pytensor.function([x], pt.grad((module.max_pool(x, (2, 3)) * weights).sum(), x))(odd)
        hit = odd[:, :, :6, :6].reshape(2, 2, 3, 2, 2, 3) == _numpy_pool(odd, 2, 3)[
            :, :, :, None, :, None]
        expected = numpy.zeros_like(odd)
        expected[:, :, :6, :6] = (hit * weights[:, :, :, None, :, None]).reshape(2, 2, 6, 6)
        return expect_close(expected, got)

    def layer_value():
        x = pt.tensor4("x")
        W = rng.uniform(-0.3, 0.3, size=(3, 2, 3, 3))
        b = numpy.array([0.5, -0.25, 0.0])
        images = rng.normal(size=(2, 2, 9, 8))
        got = pytensor.function([x], module.layer_output(x, pt.constant(W), pt.constant(b),
                                                         (2, 2)))(images)
        answer = pytensor.function([x], pt.tanh(conv.max_pool_2d(conv.conv2d(x, W), (2, 2))
                                                + b[None, :, None, None]))(images)
        return expect_close(answer, got)

    def training():
        xs, ys = mnist_slice(200)
        x, y = pt.matrix("x"), pt.ivector("y")
        W = pytensor.shared(_rng(8).uniform(-0.2, 0.2, size=(4, 1, 5, 5)), name="W")
        b = pytensor.shared(numpy.zeros(4), name="b")
        maps = module.layer_output(x.reshape((x.shape[0], 1, 28, 28)), W, b, (2, 2))
        V = pytensor.shared(numpy.zeros((4 * 12 * 12, 10)), name="V")
        p = pt.special.softmax(pt.dot(maps.flatten(2), V), axis=-1)
        cost = -pt.mean(pt.log(p)[pt.arange(y.shape[0]), y])
        costs = _sgd_run(cost, [W, b, V], [x, y], [xs, ys], 0.1, 20)
        expect(costs[-1] < 0.6 * costs[0], "the cost to fall by 40 % in 20 SGD steps",
               f"{costs[0]:.4f} -> {costs[-1]:.4f}")
        return f"{costs[0]:.4f} -> {costs[-1]:.4f}"

    report.check("max_pool of 2 x 2 blocks on a fixed input", square_blocks)
    report.check("max_pool drops the rows and columns left over (7 x 7 by 2 x 3)",
                 leftovers_dropped)
    report.check("max_pool works for any batch size", any_batch_size)
    report.check("max_pool is written with PyTensor operations", not_the_answer_key)
    report.check("the gradient goes to each block's maximum", gradient_to_the_maxima)
    report.check("layer_output is tanh(pool(conv2d(input, W)) + b per map)", layer_value)
    report.check("20 SGD steps of a one-layer LeNet on 200 MNIST digits lower the cost",
                 training)
