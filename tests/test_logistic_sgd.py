"""LogisticRegression: the maths, the training loop, and the published run."""
import os

import numpy
import pytest

import pytensor
import pytensor.tensor as pt
from pytensor.gradient import verify_grad

import logistic_sgd
from logistic_sgd import LogisticRegression


def _random_model(rng, n_in=7, n_out=4):
    x = pt.matrix("x")
    model = LogisticRegression(input=x, n_in=n_in, n_out=n_out)
    model.W.set_value(rng.normal(size=(n_in, n_out)))
    model.b.set_value(rng.normal(size=n_out))
    return x, model


def test_probabilities_are_per_row_softmax():
    rng = numpy.random.default_rng(0)
    x, model = _random_model(rng)
    xv = rng.normal(size=(5, 7))
    p = model.p_y_given_x.eval({x: xv})
    logits = xv @ model.W.get_value() + model.b.get_value()
    expected = numpy.exp(logits) / numpy.exp(logits).sum(axis=1, keepdims=True)
    numpy.testing.assert_allclose(p, expected, rtol=1e-10)
    numpy.testing.assert_array_equal(model.y_pred.eval({x: xv}), expected.argmax(axis=1))


def test_nll_and_errors_against_numpy():
    rng = numpy.random.default_rng(1)
    x, model = _random_model(rng)
    y = pt.ivector("y")
    xv, yv = rng.normal(size=(6, 7)), rng.integers(0, 4, size=6).astype("int32")
    p = model.p_y_given_x.eval({x: xv})
    nll = model.negative_log_likelihood(y).eval({x: xv, y: yv})
    assert nll == pytest.approx(-numpy.mean(numpy.log(p[numpy.arange(6), yv])), rel=1e-10)
    err = model.errors(y).eval({x: xv, y: yv})
    assert err == pytest.approx(numpy.mean(p.argmax(axis=1) != yv))


def test_gradients_match_finite_differences():
    rng = numpy.random.default_rng(2)
    xv = rng.normal(size=(5, 6))
    yv = rng.integers(0, 3, size=5).astype("int32")

    def cost(W, b):
        model = LogisticRegression(input=pt.as_tensor(xv), n_in=6, n_out=3)
        p = pt.special.softmax(pt.dot(model.input, W) + b, axis=-1)
        model.p_y_given_x = p
        return model.negative_log_likelihood(pt.as_tensor(yv))

    verify_grad(cost, [rng.normal(size=(6, 3)), rng.normal(size=3)],
                rng=numpy.random.RandomState(3))


def test_errors_rejects_wrong_label_types():
    model = LogisticRegression(input=pt.matrix("x"), n_in=3, n_out=2)
    with pytest.raises(NotImplementedError, match="integer labels"):
        model.errors(pt.vector("y"))          # floats
    with pytest.raises(TypeError, match="same shape"):
        model.errors(pt.imatrix("y"))         # wrong ndim


def test_cost_falls_on_a_small_subset(mnist):
    (train_x, train_y), _, _ = mnist
    xv, yv = train_x[:300].astype("float64"), train_y[:300].astype("int32")
    x, y = pt.matrix("x"), pt.ivector("y")
    model = LogisticRegression(input=x, n_in=784, n_out=10)
    cost = model.negative_log_likelihood(y)
    grads = pt.grad(cost, model.params)
    step = pytensor.function([x, y], cost, updates=[
        (p, p - 0.13 * g) for p, g in zip(model.params, grads)])
    costs = [float(step(xv, yv)) for _ in range(20)]
    assert costs[0] == pytest.approx(numpy.log(10))   # zero weights: uniform
    assert all(b < a for a, b in zip(costs, costs[1:]))
    assert costs[-1] < 0.5 * costs[0]


def test_trains_saves_and_predicts_on_a_slice(small_mnist, tmp_path, capsys):
    out = str(tmp_path / "out")
    result = logistic_sgd.sgd_optimization_mnist(
        n_epochs=3, dataset=small_mnist, batch_size=100, output_folder=out)
    best_valid, test_score, epochs = result.best_validation_loss, result.test_score, result.epochs
    printed = capsys.readouterr().out
    assert epochs == 3
    assert printed.count("validation error") == 3   # 6 batches/epoch, validated each epoch
    assert "Optimization complete with best validation score of %f %%" % (best_valid * 100) in printed
    assert 0 < best_valid < 0.5 and 0 < test_score < 0.5

    from PIL import Image
    assert Image.open(os.path.join(out, "validation_error.png")).size == (600, 360)
    saved = numpy.load(os.path.join(out, "best_model.npz"), allow_pickle=False)
    assert saved["W"].shape == (784, 10) and saved["b"].shape == (10,)
    predicted = logistic_sgd.predict(output_folder=out, dataset=small_mnist)
    import utils
    test_x = utils.load_mnist(small_mnist)[2][0][:10]
    numpy.testing.assert_array_equal(
        predicted, numpy.argmax(test_x @ saved["W"] + saved["b"], axis=1))


def test_predict_without_a_model_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="train first"):
        logistic_sgd.predict(output_folder=str(tmp_path))


@pytest.mark.parametrize("kwargs, fragment", [
    ({"learning_rate": 0}, "learning_rate"),
    ({"learning_rate": -0.1}, "learning_rate"),
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 601}, "larger than the 600 training examples"),
])
def test_bad_arguments_are_refused(small_mnist, tmp_path, kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        logistic_sgd.sgd_optimization_mnist(dataset=small_mnist,
                                            output_folder=str(tmp_path), **kwargs)


@pytest.mark.slow
def test_reproduces_the_published_run(tmp_path, capsys):
    """At the defaults (float32, as published): 74 epochs, 7.500000 % / 7.489583 %."""
    logistic_sgd.main(["--output-folder", str(tmp_path)])
    printed = capsys.readouterr().out
    assert ("Optimization complete with best validation score of 7.500000 %,"
            "with test performance 7.489583 %") in printed
    assert "The code run for 74 epochs" in printed
    assert "Predicted values for the first 10 examples in test set:" in printed
