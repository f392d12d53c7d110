"""The denoising autoencoder: corruption, cost, gradients, a short run."""
import os

import numpy
import pytest
from PIL import Image

import pytensor
import pytensor.tensor as pt
from pytensor.gradient import verify_grad

import dA as dA_module
from dA import dA


def _model(n_visible=784, n_hidden=500, seed=123, **kw):
    rng = numpy.random.RandomState(seed)
    return dA(numpy_rng=rng, pytensor_rng=pt.random.shared_rng(seed=rng.randint(2 ** 30)),
              n_visible=n_visible, n_hidden=n_hidden, **kw)


def test_parameters_and_initial_weights():
    da = _model()
    rng = numpy.random.RandomState(123)
    rng.randint(2 ** 30)                       # the seed of the random stream comes first
    bound = 4 * numpy.sqrt(6.0 / (500 + 784))
    numpy.testing.assert_array_equal(da.W.get_value(),
                                     rng.uniform(-bound, bound, size=(784, 500)))
    assert da.params == [da.W, da.b, da.b_prime]
    assert da.b.get_value().shape == (500,) and da.b_prime.get_value().shape == (784,)
    numpy.testing.assert_array_equal(da.W_prime.eval(), da.W.get_value().T)


def test_encode_decode_shapes_and_values():
    da = _model(n_visible=9, n_hidden=4)
    xv = numpy.random.default_rng(0).uniform(size=(3, 9))
    y = da.get_hidden_values(da.x)
    z = da.get_reconstructed_input(y)
    W = da.W.get_value()
    hidden = 1 / (1 + numpy.exp(-(xv @ W)))
    numpy.testing.assert_allclose(y.eval({da.x: xv}), hidden)
    numpy.testing.assert_allclose(z.eval({da.x: xv}), 1 / (1 + numpy.exp(-(hidden @ W.T))))


def _corrupt_fn(da, level):
    tilde = da.get_corrupted_input(da.x, level)
    return pytensor.function([da.x], tilde, updates=[da.rng_update])


@pytest.mark.parametrize("level", [0.1, 0.3, 0.75])
def test_corruption_keeps_about_one_minus_level(level):
    da = _model(n_visible=1000, n_hidden=2)
    corrupt = _corrupt_fn(da, level)
    out = corrupt(numpy.ones((200, 1000)))
    kept = out.mean()
    n = out.size
    # within five standard deviations of the binomial proportion
    assert abs(kept - (1 - level)) < 5 * numpy.sqrt(level * (1 - level) / n)
    assert set(numpy.unique(out)) <= {0.0, 1.0}


def test_corruption_zero_keeps_everything_and_keeps_values():
    da = _model(n_visible=50, n_hidden=2)
    xv = numpy.random.default_rng(1).uniform(size=(30, 50))
    numpy.testing.assert_array_equal(_corrupt_fn(da, 0.0)(xv), xv)


def test_mask_changes_on_every_call():
    da = _model(n_visible=100, n_hidden=2)
    corrupt = _corrupt_fn(da, 0.5)
    ones = numpy.ones((10, 100))
    first, second = corrupt(ones), corrupt(ones)
    assert not numpy.array_equal(first, second)


def test_cost_matches_numpy_and_gradients_check():
    rng = numpy.random.default_rng(2)
    xv = rng.uniform(size=(4, 6))

    def cost(W, b, b_prime):
        da = _model(n_visible=6, n_hidden=3, input=pt.as_tensor(xv), W=W, bhid=b, bvis=b_prime)
        return da.get_cost_updates(corruption_level=0.0, learning_rate=0.1)[0]

    W, b, bp = rng.normal(size=(6, 3)), rng.normal(size=3), rng.normal(size=6)
    z = 1 / (1 + numpy.exp(-((1 / (1 + numpy.exp(-(xv @ W + b)))) @ W.T + bp)))
    expected = numpy.mean(-numpy.sum(xv * numpy.log(z) + (1 - xv) * numpy.log(1 - z), axis=1))
    assert cost(pt.as_tensor(W), pt.as_tensor(b), pt.as_tensor(bp)).eval() == pytest.approx(expected)
    verify_grad(cost, [W, b, bp], rng=numpy.random.RandomState(3))


def test_updates_are_sgd_steps_and_advance_the_stream():
    da = _model(n_visible=20, n_hidden=5)
    cost, updates = da.get_cost_updates(corruption_level=0.3, learning_rate=0.1)
    updated = [var for var, _ in updates]
    assert updated == [da.W, da.b, da.b_prime, da.pytensor_rng]
    train = pytensor.function([da.x], cost, updates=updates)
    xv = numpy.random.default_rng(4).uniform(size=(50, 20))
    costs = [float(train(xv)) for _ in range(100)]
    assert numpy.mean(costs[-10:]) < numpy.mean(costs[:10])


def _run_slice(small_mnist, folder):
    return dA_module.test_dA(training_epochs=1, dataset=small_mnist, batch_size=20,
                             output_folder=str(folder)).costs


def test_test_dA_writes_both_filter_images(small_mnist, tmp_path, capsys):
    costs = _run_slice(small_mnist, tmp_path)
    printed = capsys.readouterr().out
    assert sorted(costs) == [0.0, 0.3]
    for level, name in ((0.0, "filters_corruption_0.png"), (0.3, "filters_corruption_30.png")):
        image = Image.open(tmp_path / name)
        assert image.size == (289, 289) and image.mode == "L"
        # two spaces, as the original's print left them
        assert "Training epoch 0, cost  %s" % costs[level][0] in printed
        # a reconstruction cost in nats per image: far below 784 * log 2
        assert 0 < costs[level][0] < 784 * numpy.log(2)
    # corrupted input is harder to reconstruct
    assert costs[0.3][0] > costs[0.0][0]
    assert Image.open(tmp_path / "training_cost.png").size == (600, 360)


def test_same_seed_same_figures(small_mnist, tmp_path):
    first = _run_slice(small_mnist, tmp_path / "a")
    second = _run_slice(small_mnist, tmp_path / "b")
    assert first == second
    for name in ("filters_corruption_0.png", "filters_corruption_30.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.parametrize("kwargs, fragment", [
    ({"learning_rate": -0.1}, "learning_rate"),
    ({"batch_size": 0}, "at least 1"),
    ({"batch_size": 601}, "larger than the 600"),
    ({"corruption_levels": (0.0, 1.0)}, r"\[0, 1\)"),
    ({"corruption_levels": (-0.1,)}, r"\[0, 1\)"),
])
def test_bad_arguments_fail_before_compiling(small_mnist, tmp_path, no_compiling,
                                             kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        dA_module.test_dA(dataset=small_mnist, output_folder=str(tmp_path), **kwargs)
    assert not os.listdir(tmp_path)
