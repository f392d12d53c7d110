"""logistic_cg.py: the theta-vector model, its gradient, and deterministic runs."""
import numpy
import pytest

import pytensor.tensor as pt

import logistic_cg
from logistic_cg import LogisticRegression

from conftest import check_gradients, write_idx_folder


def test_W_and_b_are_views_of_theta():
    model = LogisticRegression(input=pt.matrix("x"), n_in=3, n_out=2)
    model.theta.set_value(numpy.arange(8.0))
    numpy.testing.assert_array_equal(model.W.eval(), [[0, 1], [2, 3], [4, 5]])
    numpy.testing.assert_array_equal(model.b.eval(), [6, 7])


def test_gradient_matches_finite_differences(mnist):
    (train_x, train_y), _, _ = mnist
    x, y = pt.matrix("x"), pt.ivector("y")
    model = LogisticRegression(input=x, n_in=784, n_out=10)
    model.theta.set_value(numpy.random.default_rng(0).normal(scale=0.01, size=7850))
    cost = model.negative_log_likelihood(y)
    xv, yv = train_x[:30].astype("float64"), train_y[:30].astype("int32")
    assert check_gradients(cost, [model.theta], [x, y], [xv, yv], n_coords=20) < 1e-6


@pytest.fixture(scope="module")
def cg_mnist(tmp_path_factory, mnist):
    """3000 train, 600 valid and 600 test images: one 600-example batch is
    the script's fixed size, so every split needs one at least."""
    return write_idx_folder(tmp_path_factory.mktemp("cg_mnist"), mnist,
                            n_train=3000, n_valid=600, n_test=600)


def test_two_runs_print_the_same_lines(cg_mnist, tmp_path, capsys):
    results, printed = [], []
    for run in ("a", "b"):
        results.append(logistic_cg.cg_optimization_mnist(
            n_epochs=4, mnist_pkl_gz=cg_mnist, output_folder=str(tmp_path / run)))
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1]
    lines = printed[0].splitlines()
    assert lines[:3] == ["... loading data", "... building the model",
                         "Optimizing using scipy.optimize.fmin_cg..."]
    scores = [line for line in lines if line.startswith("validation error")]
    assert 1 <= len(scores) <= 4 and results[0] == results[1]
    best = results[0].best_validation_loss
    assert best * 100 == pytest.approx(min(float(s.split()[2]) for s in scores), abs=1e-6)
    assert lines[-1] == ("Optimization complete with best validation score of %f %%, "
                         "with test performance %f %%"
                         % (best * 100, results[0].test_score * 100))
    saved = numpy.load(tmp_path / "a" / "best_model.npz")
    assert saved["W"].shape == (784, 10) and saved["b"].shape == (10,)


def test_the_originals_test_call(capsys):
    """The original test suite's call, on the bundled MNIST."""
    result = logistic_cg.cg_optimization_mnist(n_epochs=10)
    printed = capsys.readouterr().out
    scores = [float(line.split()[2]) for line in printed.splitlines()
              if line.startswith("validation error")]
    assert len(scores) == result.epochs == 10
    # the best score printed is the one returned, far below the first
    assert result.best_validation_loss * 100 == pytest.approx(min(scores), abs=1e-6)
    assert min(scores) < 0.5 * scores[0] and 0 < result.test_score < 0.5


def test_bad_arguments_fail_before_compiling(small_mnist, tmp_path, no_compiling):
    with pytest.raises(ValueError, match="at least 1"):
        logistic_cg.cg_optimization_mnist(n_epochs=0, mnist_pkl_gz=small_mnist,
                                          output_folder=str(tmp_path))
    # the slice has only 120 validation examples, fewer than one batch of 600
    with pytest.raises(ValueError, match="larger than the 120 validation examples"):
        logistic_cg.cg_optimization_mnist(n_epochs=1, mnist_pkl_gz=small_mnist,
                                          output_folder=str(tmp_path))
