"""HiddenLayer and MLP: initialisation, regularisers, gradients, a short run."""
import numpy
import pytest

import pytensor
import pytensor.tensor as pt

import mlp
from mlp import MLP, HiddenLayer

from conftest import check_gradients


def test_hidden_layer_draws_the_originals_weights():
    x = pt.matrix("x")
    layer = HiddenLayer(numpy.random.RandomState(1234), x, n_in=784, n_out=500)
    bound = numpy.sqrt(6.0 / (784 + 500))
    expected = numpy.random.RandomState(1234).uniform(-bound, bound, size=(784, 500))
    numpy.testing.assert_array_equal(layer.W.get_value(), expected)
    numpy.testing.assert_array_equal(layer.b.get_value(), numpy.zeros(500))
    assert layer.params == [layer.W, layer.b]


def test_sigmoid_layers_get_four_times_larger_weights():
    x = pt.matrix("x")
    tanh = HiddenLayer(numpy.random.RandomState(5), x, 30, 20, activation=pt.tanh)
    sigm = HiddenLayer(numpy.random.RandomState(5), x, 30, 20, activation=pt.sigmoid)
    numpy.testing.assert_allclose(sigm.W.get_value(), 4 * tanh.W.get_value())


def test_hidden_layer_output_and_given_parameters():
    rng = numpy.random.default_rng(0)
    x = pt.matrix("x")
    W = pytensor.shared(rng.normal(size=(6, 4)))
    b = pytensor.shared(rng.normal(size=4))
    layer = HiddenLayer(None, x, 6, 4, W=W, b=b, activation=None)
    assert layer.W is W and layer.b is b
    xv = rng.normal(size=(3, 6))
    numpy.testing.assert_allclose(layer.output.eval({x: xv}), xv @ W.get_value() + b.get_value())
    tanh = HiddenLayer(None, x, 6, 4, W=W, b=b)
    assert tanh.output.eval({x: xv}).shape == (3, 4)
    numpy.testing.assert_allclose(tanh.output.eval({x: xv}),
                                  numpy.tanh(xv @ W.get_value() + b.get_value()))


def test_mlp_shapes_and_regularisers():
    rng = numpy.random.default_rng(1)
    x = pt.matrix("x")
    net = MLP(numpy.random.RandomState(1234), x, n_in=12, n_hidden=7, n_out=3)
    net.logRegressionLayer.W.set_value(rng.normal(size=(7, 3)))
    W1, W2 = net.hiddenLayer.W.get_value(), net.logRegressionLayer.W.get_value()
    assert net.L1.eval() == pytest.approx(numpy.abs(W1).sum() + numpy.abs(W2).sum())
    assert net.L2_sqr.eval() == pytest.approx((W1 ** 2).sum() + (W2 ** 2).sum())
    assert net.params == net.hiddenLayer.params + net.logRegressionLayer.params
    assert net.logRegressionLayer.p_y_given_x.eval({x: rng.normal(size=(5, 12))}).shape == (5, 3)


def test_mlp_cost_gradients_match_finite_differences():
    rng = numpy.random.default_rng(2)
    x, y = pt.matrix("x"), pt.ivector("y")
    net = MLP(numpy.random.RandomState(1234), x, n_in=5, n_hidden=6, n_out=3)
    # non-zero top weights and biases, so every gradient is exercised
    for p in net.params:
        p.set_value(rng.normal(size=p.get_value().shape))
    cost = net.negative_log_likelihood(y) + 0.01 * net.L1 + 0.001 * net.L2_sqr
    xv, yv = rng.normal(size=(4, 5)), rng.integers(0, 3, size=4).astype("int32")
    assert check_gradients(cost, net.params, [x, y], [xv, yv]) < 1e-6


def test_test_mlp_runs_on_a_slice(small_mnist, tmp_path, capsys):
    result = mlp.test_mlp(n_epochs=1, dataset=small_mnist, batch_size=20, n_hidden=50,
                          output_folder=str(tmp_path))
    best_valid, best_iter, test_score, epochs, costs = result
    assert costs is None
    printed = capsys.readouterr().out
    assert epochs == 1 and best_iter == 30          # 600 / 20 minibatches
    assert ("Optimization complete. Best validation score of %f %% obtained at "
            "iteration %i, with test performance %f %%"
            % (best_valid * 100, best_iter, test_score * 100)) in printed
    assert 0 < best_valid < 0.6
    from PIL import Image
    assert Image.open(tmp_path / "validation_error.png").size == (600, 360)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"learning_rate": 0}, "learning_rate"),
    ({"L2_reg": -1}, "L1_reg and L2_reg"),
    ({"batch_size": 0}, "at least 1"),
    ({"n_hidden": 0}, "at least 1"),
    ({"batch_size": 10_000}, "larger than the 600"),
])
def test_bad_arguments_fail_before_compiling(small_mnist, tmp_path, no_compiling,
                                             kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        mlp.test_mlp(dataset=small_mnist, output_folder=str(tmp_path), **kwargs)
