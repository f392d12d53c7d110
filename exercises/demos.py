"""What each exercise file does when run: a short training run on a slice of
MNIST that uses the student's piece, so its effect can be seen."""
import os

import numpy
from PIL import Image

import pytensor
import pytensor.tensor as pt

import utils

OUT = "exercise_output"


def _data(n_train=5000, n_valid=1000):
    (tx, ty), (vx, vy), _ = utils.load_mnist()
    return (utils.shared_dataset((tx[:n_train], ty[:n_train])),
            utils.shared_dataset((vx[:n_valid], vy[:n_valid])))


def _sgd(cost, params, lr):
    return [(p, p - lr * g) for p, g in zip(params, pt.grad(cost, params))]


def _fit(cost, updates, error, x, y, train, valid, batch_size, epochs):
    index = pt.lscalar()

    def batch(data):
        return data[index * batch_size:(index + 1) * batch_size]
    step = pytensor.function([index], cost, updates=updates,
                             givens={x: batch(train[0]), y: batch(train[1])})
    check = pytensor.function([], error, givens={x: valid[0], y: valid[1]})
    n = train[0].get_value(borrow=True).shape[0] // batch_size
    for epoch in range(epochs):
        costs = [step(i) for i in range(n)]
        print(f"epoch {epoch}: mean cost {numpy.mean(costs):.4f}, "
              f"validation error {100 * check():.2f} %")


def train_logistic(LogisticRegression):
    train, valid = _data()
    x, y = pt.matrix("x"), pt.ivector("y")
    model = LogisticRegression(input=x, n_in=784, n_out=10)
    cost = model.negative_log_likelihood(y)
    _fit(cost, _sgd(cost, model.params, 0.13), model.errors(y), x, y, train, valid, 600, 5)


def train_mlp(MLP, regularised_cost):
    train, valid = _data()
    x, y = pt.matrix("x"), pt.ivector("y")
    model = MLP(numpy.random.RandomState(1234), x, 784, 100, 10)
    cost = regularised_cost(model, y, 0.0, 0.0001)
    _fit(cost, _sgd(cost, model.params, 0.01), model.errors(y), x, y, train, valid, 20, 3)


def show_corruption(dA, level=0.3):
    (train_x, _), _ = _data(n_train=20, n_valid=1)
    rng = numpy.random.RandomState(123)
    da = dA(numpy_rng=rng, n_visible=784, n_hidden=10)
    corrupted = da.get_corrupted_input(da.x, level)
    corrupt = pytensor.function([], corrupted, updates=[da.rng_update],
                                givens={da.x: train_x})
    images = numpy.concatenate([train_x.get_value()[:10], corrupt()[:10]])
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "corrupted.png")
    Image.fromarray(utils.tile_raster_images(images, (28, 28), (2, 10), (1, 1))).save(path)
    print(f"clean digits above, {int(level * 100)} % corrupted below: {path}")


def _train_autoencoder(da, cost, updates, train_x, batch_size, epochs, label):
    index = pt.lscalar()
    step = pytensor.function([index], cost, updates=updates,
                             givens={da.x: train_x[index * batch_size:(index + 1) * batch_size]})
    n = train_x.get_value(borrow=True).shape[0] // batch_size
    for epoch in range(epochs):
        print(f"{label} epoch {epoch}: mean cost {numpy.mean([step(i) for i in range(n)]):.4f}")
    hidden = pytensor.function([], da.get_hidden_values(da.x), givens={da.x: train_x})()
    return hidden.mean()


def _save_filters(da, name):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    Image.fromarray(utils.tile_raster_images(da.W.get_value().T, (28, 28), (10, 10),
                                             (1, 1))).save(path)
    return path


def train_dA(dA):
    (train_x, _), _ = _data()
    rng = numpy.random.RandomState(123)
    da = dA(numpy_rng=rng, n_visible=784, n_hidden=500)
    cost, updates = da.get_cost_updates(corruption_level=0.3, learning_rate=0.1)
    _train_autoencoder(da, cost, updates, train_x, 20, 1, "dA")
    print("filters:", _save_filters(da, "dA_filters.png"))


def compare_sparse(SparseAE, epochs=3):
    import dA as dA_module
    (train_x, _), _ = _data(n_train=10000)
    means = {}
    for label, cls in (("dA", dA_module.dA), ("sparse", SparseAE)):
        da = cls(numpy_rng=numpy.random.RandomState(123), n_visible=784, n_hidden=196)
        cost, updates = da.get_cost_updates(corruption_level=0.0, learning_rate=0.1)
        means[label] = _train_autoencoder(da, cost, updates, train_x, 20, epochs, label)
        print(f"{label}: mean hidden activation {means[label]:.4f}, filters "
              f"{_save_filters(da, label + '_filters.png')}")
    print(f"the sparse code is {means['dA'] / means['sparse']:.1f} times less active")


def pretrain_sda(SdA):
    (train_x, _), _ = _data(n_train=2000)
    sda = SdA(numpy_rng=numpy.random.RandomState(89677), n_ins=784,
              hidden_layers_sizes=[200, 100], n_outs=10, corruption_levels=[0.1, 0.2])
    fns = sda.pretraining_functions(train_set_x=train_x, batch_size=10)
    for k, fn in enumerate(fns):
        costs = [fn(index=i, corruption=0.1 * (k + 1), lr=0.1) for i in range(200)]
        print(f"layer {k}: mean cost {numpy.mean(costs):.4f}")


def show_feature_maps(max_pool, layer_output, n_filters=6):
    """Four digits and what six random 5x5 filters make of them."""
    import conv
    conv.expect_object_mode()       # stock PyTensor's warnings about conv.py's NumPy code
    (train_x, _), _ = _data(n_train=20, n_valid=1)
    rng = numpy.random.RandomState(23455)
    images = train_x.get_value()[:4]
    x = pt.tensor4("x")
    W = rng.uniform(-0.5, 0.5, size=(n_filters, 1, 5, 5)).astype(pytensor.config.floatX)
    b = numpy.zeros(n_filters, dtype=pytensor.config.floatX)
    maps = pytensor.function([x], layer_output(x, pt.constant(W), pt.constant(b), (2, 2)))(
        images.reshape(4, 1, 28, 28))
    rows = [numpy.concatenate([image.reshape(28, 28)[2:26:2, 2:26:2][None], digit_maps])
            for image, digit_maps in zip(images, maps)]
    tiles = numpy.concatenate(rows).reshape(4 * (n_filters + 1), 144)
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "feature_maps.png")
    Image.fromarray(utils.tile_raster_images(tiles, (12, 12), (4, n_filters + 1),
                                             (1, 1))).save(path)
    print(f"each digit (shrunk to 12 x 12), then its {n_filters} pooled feature maps: {path}")
