"""Make the scripts in code/ importable, and share small slices of MNIST."""
import os
import subprocess
import sys
import time

import numpy
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir))
CODE = os.path.join(ROOT, "code")
sys.path.insert(0, CODE)

import pytensor  # noqa: E402

# The tests build graphs in float64 so numerical gradient checks are tight;
# tests that need float32 set it themselves.
pytensor.config.floatX = "float64"


@pytest.fixture(autouse=True)
def _floatx_float64():
    pytensor.config.floatX = "float64"
    yield
    pytensor.config.floatX = "float64"


@pytest.fixture(autouse=True)
def _speedups_stay_as_they_were():
    """A test that calls a script's main() installs the speed-ups in this
    process, as a user's run would; take them out again afterwards, so that
    the tests after it see stock PyTensor (test_speedups.py keeps its own)."""
    import numba_speedups
    before = numba_speedups.installed()
    yield
    if not before:
        numba_speedups.uninstall()


@pytest.fixture(scope="session")
def mnist():
    import utils
    return utils.load_mnist()


def write_idx_folder(folder, splits, n_train=600, n_valid=120, n_test=100):
    """A small folder of gzip'd IDX files cut from the real MNIST, so the
    scripts can run end to end in seconds. Returns its path."""
    import gzip
    import struct
    (tx, ty), (vx, vy), (sx, sy) = splits
    train_x = numpy.concatenate([tx[:n_train], vx[:n_valid]])
    train_y = numpy.concatenate([ty[:n_train], vy[:n_valid]])
    test_x, test_y = sx[:n_test], sy[:n_test]
    os.makedirs(folder, exist_ok=True)

    def write(name, header, payload):
        with gzip.open(os.path.join(folder, name + ".gz"), "wb") as f:
            f.write(header + payload)

    for prefix, x, y in (("train", train_x, train_y), ("t10k", test_x, test_y)):
        raw = numpy.round(x * 256).astype(numpy.uint8)
        write(f"{prefix}-images-idx3-ubyte",
              struct.pack(">IIII", 0x803, len(raw), 28, 28), raw.tobytes())
        write(f"{prefix}-labels-idx1-ubyte",
              struct.pack(">II", 0x801, len(y)), y.astype(numpy.uint8).tobytes())
    return str(folder)


@pytest.fixture(scope="session")
def small_mnist(tmp_path_factory, mnist):
    """600 train, 120 valid (a sixth of 720) and 100 test images."""
    return write_idx_folder(tmp_path_factory.mktemp("small_mnist"), mnist)


# each script's small slice, as the kill tests and the speed-up tests run it
SLICE_ARGS = {
    "logistic_sgd.py": ["--n-epochs", "30", "--batch-size", "20"],
    "mlp.py": ["--n-epochs", "6", "--batch-size", "20", "--n-hidden", "40"],
    "dA.py": ["--training-epochs", "3", "--batch-size", "20"],
    "convolutional_mlp.py": ["--n-epochs", "3", "--batch-size", "50", "--nkerns", "4", "6"],
    "SdA.py": ["--pretraining-epochs", "2", "--training-epochs", "3", "--batch-size", "10",
               "--hidden-layers-sizes", "60", "40", "--corruption-levels", "0.1", "0.2"],
}


def command(script, dataset, folder, *extra):
    return [sys.executable, os.path.join(CODE, script), "--dataset", dataset,
            "--output-folder", str(folder), "--floatX", "float64",
            *SLICE_ARGS[script], *extra]


def figures(stdout):
    """The lines that carry results (not '... doing X' progress, not speed)."""
    return [line for line in stdout.splitlines()
            if line and not line.startswith("...") and "epochs/sec" not in line]


def run(cmd, **kwargs):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)


@pytest.fixture(scope="session")
def uninterrupted(small_mnist, tmp_path_factory):
    """script -> (its figures, its output folder, seconds, the finished process)
    of one uninterrupted run of its slice, with the speed-ups installed."""
    results = {}

    def get(script):
        if script not in results:
            folder = tmp_path_factory.mktemp("full_" + script.replace(".", "_"))
            start = time.time()
            done = run(command(script, small_mnist, folder))
            assert done.returncode == 0, done.stderr
            results[script] = (figures(done.stdout), folder, time.time() - start, done)
        return results[script]
    return get


def check_gradients(cost, params, inputs, values, n_coords=6, eps=1e-6, seed=0):
    """Compare pytensor.grad of ``cost`` with central finite differences,
    perturbing the real shared parameters of a model (float64).

    A few random coordinates of each parameter are checked; returns the
    largest relative error seen so a test can assert on it.
    """
    import pytensor
    f = pytensor.function(inputs, cost)
    g = pytensor.function(inputs, pytensor.grad(cost, params))
    grads = g(*values)
    rng = numpy.random.default_rng(seed)
    worst = 0.0
    for param, grad in zip(params, grads):
        value = param.get_value()
        for _ in range(n_coords):
            i = tuple(rng.integers(0, s) for s in value.shape)
            bumped = value.copy()
            bumped[i] += eps
            param.set_value(bumped)
            up = f(*values)
            bumped[i] -= 2 * eps
            param.set_value(bumped)
            down = f(*values)
            param.set_value(value)
            numeric = (up - down) / (2 * eps)
            worst = max(worst, abs(numeric - grad[i]) / max(1e-6, abs(numeric) + abs(grad[i])))
    return worst


@pytest.fixture
def no_compiling(monkeypatch):
    """Make any pytensor.function call fail: argument checks must come first."""
    import pytensor

    def refuse(*args, **kwargs):
        raise AssertionError("compiled before checking the arguments")
    monkeypatch.setattr(pytensor, "function", refuse)
