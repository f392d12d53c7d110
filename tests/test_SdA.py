"""The stacked denoising autoencoder: shared weights, both phases, a short run."""
import numpy
import pytest

import pytensor
import pytensor.tensor as pt

import SdA as SdA_module
from SdA import SdA

from conftest import check_gradients


def _sda(sizes=(8, 6), levels=(0.1, 0.2), n_ins=10, n_outs=3, seed=89677):
    return SdA(numpy_rng=numpy.random.RandomState(seed), n_ins=n_ins,
               hidden_layers_sizes=list(sizes), n_outs=n_outs,
               corruption_levels=list(levels))


def test_layers_share_weights_with_their_autoencoders():
    sda = _sda(sizes=(8, 6, 4), levels=(0.1, 0.2, 0.3))
    assert sda.n_layers == 3
    assert len(sda.sigmoid_layers) == len(sda.dA_layers) == 3
    for layer, da in zip(sda.sigmoid_layers, sda.dA_layers):
        assert da.W is layer.W and da.b is layer.b
        assert da.b_prime not in sda.params      # only used in pre-training
    # each layer's dA reads the output of the layer below
    assert sda.dA_layers[0].x is sda.x
    assert sda.dA_layers[1].x is sda.sigmoid_layers[0].output
    assert sda.params == [p for l in sda.sigmoid_layers for p in l.params] + sda.logLayer.params
    # every dA has its own random stream
    assert len({id(da.pytensor_rng) for da in sda.dA_layers}) == 3


def test_the_documented_call_works():
    """The original's tutorial builds its SdA this way, with the constructor's
    two default corruption levels for three layers: the levels are those
    given to pre-training, not the constructor's."""
    sda = SdA(numpy_rng=numpy.random.RandomState(89677), n_ins=28 * 28,
              hidden_layers_sizes=[1000, 1000, 1000], n_outs=10)
    assert sda.n_layers == 3 and len(sda.dA_layers) == 3
    assert [layer.W.get_value().shape for layer in sda.sigmoid_layers] == [
        (784, 1000), (1000, 1000), (1000, 1000)]


def test_initial_weights_are_the_originals():
    sda = _sda(sizes=(8, 6))
    rng = numpy.random.RandomState(89677)
    rng.randint(2 ** 30)        # seed of the random stream, drawn first
    for layer, (n_in, n_out) in zip(sda.sigmoid_layers, [(10, 8), (8, 6)]):
        bound = 4 * numpy.sqrt(6.0 / (n_in + n_out))
        numpy.testing.assert_array_equal(layer.W.get_value(),
                                         rng.uniform(-bound, bound, size=(n_in, n_out)))


def test_output_shapes():
    sda = _sda()
    xv = numpy.random.default_rng(0).uniform(size=(5, 10))
    assert sda.sigmoid_layers[-1].output.eval({sda.x: xv}).shape == (5, 6)
    assert sda.logLayer.p_y_given_x.eval({sda.x: xv}).shape == (5, 3)


def test_finetune_gradients_match_finite_differences():
    sda = _sda()
    rng = numpy.random.default_rng(1)
    sda.logLayer.W.set_value(rng.normal(size=(6, 3)))
    xv, yv = rng.uniform(size=(4, 10)), rng.integers(0, 3, size=4).astype("int32")
    assert check_gradients(sda.finetune_cost, sda.params, [sda.x, sda.y], [xv, yv]) < 1e-6


def test_pretraining_gradients_match_finite_differences():
    sda = _sda()
    da = sda.dA_layers[1]
    cost, _ = da.get_cost_updates(corruption_level=0.0, learning_rate=0.1)
    xv = numpy.random.default_rng(2).uniform(size=(4, 10))
    assert check_gradients(cost, da.params, [sda.x], [xv]) < 1e-6


def test_pretraining_functions_defaults_and_effect():
    sda = _sda()
    data = pytensor.shared(numpy.random.default_rng(3).uniform(size=(40, 10)))
    fns = sda.pretraining_functions(train_set_x=data, batch_size=10)
    assert len(fns) == 2
    W0 = sda.dA_layers[1].W.get_value().copy()
    below = sda.dA_layers[0].W.get_value().copy()
    fns[1](index=0)                                 # corruption 0.2, lr 0.1 by default
    assert not numpy.allclose(sda.dA_layers[1].W.get_value(), W0)
    # pre-training a layer leaves the layers below alone
    numpy.testing.assert_array_equal(sda.dA_layers[0].W.get_value(), below)
    costs = [float(fns[0](index=i % 4, corruption=0.1, lr=0.5)) for i in range(60)]
    assert numpy.mean(costs[-8:]) < numpy.mean(costs[:8])


def test_finetune_functions_return_per_batch_errors():
    sda = _sda()
    rng = numpy.random.default_rng(4)

    def split(n):
        return (pytensor.shared(rng.uniform(size=(n, 10))),
                pt.cast(pytensor.shared(rng.integers(0, 3, size=n).astype("float64")), "int32"))
    train_fn, valid_score, test_score = sda.build_finetune_functions(
        datasets=[split(40), split(30), split(20)], batch_size=10, learning_rate=0.1)
    assert len(valid_score()) == 3 and len(test_score()) == 2
    assert all(0 <= e <= 1 for e in valid_score())
    W_top, W_low = sda.logLayer.W.get_value().copy(), sda.sigmoid_layers[0].W.get_value().copy()
    train_fn(0)
    assert not numpy.allclose(sda.logLayer.W.get_value(), W_top)
    # the top weights start at zero, so the layers below move from the second step on
    numpy.testing.assert_array_equal(sda.sigmoid_layers[0].W.get_value(), W_low)
    train_fn(1)
    assert not numpy.allclose(sda.sigmoid_layers[0].W.get_value(), W_low)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_scoring_in_chunks_gives_the_per_minibatch_errors(monkeypatch, batch_size):
    """The scorers evaluate SCORE_CHUNK examples per call; their list must be
    the one a per-minibatch function gives, remainders and partial chunks
    included (22 examples, chunks of 4)."""
    monkeypatch.setattr(SdA_module, "SCORE_CHUNK", 4)
    sda = _sda()
    rng = numpy.random.default_rng(5)
    x = pytensor.shared(rng.uniform(size=(22, 10)))
    y = pt.cast(pytensor.shared(rng.integers(0, 3, size=22).astype("float64")), "int32")
    _, valid_score, _ = sda.build_finetune_functions([(x, y)] * 3, batch_size, 0.1)
    index = pt.lscalar()
    rows = slice(index * batch_size, (index + 1) * batch_size)
    one_batch = pytensor.function([index], sda.errors, givens={sda.x: x[rows], sda.y: y[rows]})
    expected = [one_batch(i) for i in range(22 // batch_size)]
    got = valid_score()
    assert len(got) == len(expected)
    numpy.testing.assert_allclose(got, expected, rtol=1e-12)
    assert 0 < numpy.mean(got) < 1     # the labels are random: some right, some wrong


def _run_slice(small_mnist, folder):
    return SdA_module.test_SdA(pretraining_epochs=1, training_epochs=2, dataset=small_mnist,
                               batch_size=10, output_folder=str(folder),
                               hidden_layers_sizes=(60, 40), corruption_levels=(0.1, 0.2))


def test_test_SdA_runs_on_a_slice_and_repeats(small_mnist, tmp_path, capsys):
    first = _run_slice(small_mnist, tmp_path / "a")
    printed = capsys.readouterr().out
    pretrain_costs, best_valid, best_iter = first.costs, first.best_validation_loss, first.best_iter
    test_score, epochs = first.test_score, first.epochs
    assert [len(c) for c in pretrain_costs] == [1, 1]
    assert "Pre-training layer 1, epoch 0, cost %f" % pretrain_costs[1][0] in printed
    assert epochs == 2 and best_iter in (60, 120)
    assert ("Optimization complete with best validation score of %f %%, on iteration %i, "
            "with test performance %f %%" % (best_valid * 100, best_iter, test_score * 100)
            ) in printed
    from PIL import Image
    for curve in ("pretraining_cost.png", "validation_error.png"):
        assert Image.open(tmp_path / "a" / curve).size == (600, 360)
    # same seed, same figures
    assert _run_slice(small_mnist, tmp_path / "b") == first


@pytest.mark.parametrize("kwargs, fragment", [
    ({"hidden_layers_sizes": ()}, "empty"),
    ({"hidden_layers_sizes": (10, 10), "corruption_levels": (0.1,)}, "one per layer"),
    ({"hidden_layers_sizes": (10,), "corruption_levels": (1.5,)}, r"\[0, 1\)"),
    ({"finetune_lr": 0}, "learning rates"),
    ({"pretrain_lr": -1}, "learning rates"),
    ({"batch_size": 0}, "at least 1"),
    ({"batch_size": 601}, "larger than the 600"),
])
def test_bad_arguments_fail_before_compiling(small_mnist, tmp_path, no_compiling,
                                             kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        SdA_module.test_SdA(dataset=small_mnist, output_folder=str(tmp_path), **kwargs)
