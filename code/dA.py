"""A denoising autoencoder (dA) on MNIST.

An autoencoder encodes x into a hidden code y and decodes y back into z,
and is trained to make z close to x. The denoising variant first destroys
part of x (here: sets a random fraction of the pixels to zero) and asks
for the *clean* x back, so it cannot just copy its input; to fill in what
was erased it has to learn how pixels depend on one another.

    x~ = x * mask,           mask_i ~ Bernoulli(1 - corruption_level)
    y  = sigmoid(x~ W + b)
    z  = sigmoid(y W' + b')  with tied weights W' = W^T
    L  = -sum_k [x_k log z_k + (1 - x_k) log(1 - z_k)]

Run it:  python code/dA.py          (python code/dA.py --help)
It trains two models, with 0 % and 30 % corruption, and draws their filters
into filters_corruption_0.png and filters_corruption_30.png.
"""

import os

import numpy
from PIL import Image

import pytensor
import pytensor.tensor as pt

from machinery import (ArgumentParser, Checkpoint, Result, add_common_arguments,
                       apply_common_arguments, check_batch_size, dataset_fingerprint,
                       install_speedups, positive_float, positive_int, report_time,
                       run_cli, save_picture, timer)
from utils import load_data, plot_curves, tile_raster_images


# start-snippet-init
class dA(object):
    """Denoising autoencoder with tied weights.

    The parameters are W (n_visible, n_hidden), the hidden bias b and the
    visible bias b_prime; the decoder uses W.T, so there is one weight
    matrix to learn.
    """

    def __init__(self, numpy_rng, pytensor_rng=None,
                 input=None,                  # a matrix of its own when not given
                 n_visible=784, n_hidden=500,
                 # given when an SdA shares its layers' parameters with the dA
                 W=None, bhid=None, bvis=None):
        """
        numpy_rng: numpy.random.RandomState for the initial weights.
        pytensor_rng: shared random generator (pytensor.tensor.random.shared_rng)
            that draws the corruption masks; one is seeded from numpy_rng if None.
        input: symbolic minibatch; a fresh matrix variable if None. A stacked
            model passes the output of the layer below.
        n_visible, n_hidden: sizes of the input and of the code.
        W, bhid, bvis: existing shared variables to use (the SdA shares W and
            bhid with its sigmoid layers); new ones are made if None.
        """
        self.n_visible = n_visible
        self.n_hidden = n_hidden

        if pytensor_rng is None:
            pytensor_rng = pt.random.shared_rng(seed=numpy_rng.randint(2 ** 30))

        if W is None:
            # The sigmoid version of the uniform initialisation in mlp.py.
            bound = 4 * numpy.sqrt(6.0 / (n_hidden + n_visible))
            initial_W = numpy.asarray(
                numpy_rng.uniform(low=-bound, high=bound, size=(n_visible, n_hidden)),
                dtype=pytensor.config.floatX)
            W = pytensor.shared(value=initial_W, name="W", borrow=True)
        if bvis is None:
            bvis = pytensor.shared(
                value=numpy.zeros(n_visible, dtype=pytensor.config.floatX),
                name="b_prime", borrow=True)
        if bhid is None:
            bhid = pytensor.shared(
                value=numpy.zeros(n_hidden, dtype=pytensor.config.floatX),
                name="b", borrow=True)

        self.W = W
        self.b = bhid             # hidden bias
        self.b_prime = bvis       # visible bias
        self.W_prime = self.W.T   # tied weights: the decoder reuses W
        self.pytensor_rng = pytensor_rng
        self.x = pt.matrix(name="input") if input is None else input

        self.params = [self.W, self.b, self.b_prime]
# end-snippet-init

    # start-snippet-corrupt
    def get_corrupted_input(self, input, corruption_level):
        """Zero each entry of ``input`` with probability ``corruption_level``.

        The mask is drawn inside the compiled function. Drawing returns the
        generator's next state as well; it is kept in ``self.rng_update`` so
        that get_cost_updates can hand it to the function's updates, which
        is what makes every call draw a new mask.
        """
        # A uniform draw u keeps its pixel when u >= corruption_level, which
        # happens with probability 1 - corruption_level: a Bernoulli mask, as
        # binomial(n=1) would give, drawn about ten times faster (see the
        # performance page of the docs).
        next_rng, u = self.pytensor_rng.uniform(size=input.shape,
                                                dtype=pytensor.config.floatX)
        self.rng_update = (self.pytensor_rng, next_rng)
        keep = pt.ge(u, corruption_level)
        # the comparison gives booleans; multiply in floatX
        return pt.cast(keep, pytensor.config.floatX) * input
    # end-snippet-corrupt

    # start-snippet-encode-decode
    def get_hidden_values(self, input):
        """The code: y = sigmoid(input W + b)."""
        return pt.sigmoid(pt.dot(input, self.W) + self.b)

    def get_reconstructed_input(self, hidden):
        """The reconstruction: z = sigmoid(hidden W' + b')."""
        return pt.sigmoid(pt.dot(hidden, self.W_prime) + self.b_prime)
    # end-snippet-encode-decode

    # start-snippet-cost
    def get_cost_updates(self, corruption_level, learning_rate):
        """The training cost of one minibatch and the SGD updates that lower it."""
        x = self.x
        z = self.get_reconstructed_input(
            self.get_hidden_values(self.get_corrupted_input(x, corruption_level)))
        # Cross-entropy between the clean input and the reconstruction of the
        # corrupted one, summed over pixels: one value per example ...
        L = -pt.sum(x * pt.log(z) + (1 - x) * pt.log(1 - z), axis=1)
        # ... and averaged over the minibatch, so steps do not grow with it
        cost = pt.mean(L)

        grads = pt.grad(cost, self.params)
        updates = [(p, p - learning_rate * g) for p, g in zip(self.params, grads)]
        # advance the random stream too, or every call would reuse one mask
        updates.append(self.rng_update)
        return cost, updates
    # end-snippet-cost


def check_corruption_level(level):
    if not 0 <= level < 1:
        raise ValueError(f"corruption level must be in [0, 1), got {level}")


def test_dA(learning_rate=0.1, training_epochs=15, dataset="mnist.pkl.gz",
            batch_size=20, output_folder="dA_plots", corruption_levels=(0.0, 0.3),
            resume=False):
    """Train a 784-500 dA once per corruption level and draw its filters.

    learning_rate: SGD step size.
    training_epochs: passes over the training set, per model.
    dataset: see utils.load_mnist.
    batch_size: examples per minibatch.
    output_folder: where filters_corruption_<percent>.png, training_cost.png
        and the checkpoints go.
    corruption_levels: the original trains at 0 % and then 30 %.
    resume: continue from the checkpoints in output_folder.
    Returns a Result whose costs are {corruption level: the mean cost of each epoch}.
    """
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}")
    if batch_size < 1 or training_epochs < 1:
        raise ValueError("batch_size and training_epochs must be at least 1, got "
                         f"{batch_size} and {training_epochs}")
    for level in corruption_levels:
        check_corruption_level(level)
    datasets = load_data(dataset)
    train_set_x, train_set_y = datasets[0]
    check_batch_size(batch_size, train_set_x.get_value(borrow=True).shape[0])
    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size
    os.makedirs(output_folder, exist_ok=True)

    index = pt.lscalar()     # which minibatch
    x = pt.matrix("x")       # its images

    all_costs = {}
    for corruption_level in corruption_levels:
        percent = int(round(corruption_level * 100))

        # start-snippet-train
        # Both models start from the same seed, so they differ only in the
        # corruption they were trained with.
        rng = numpy.random.RandomState(123)
        pytensor_rng = pt.random.shared_rng(seed=rng.randint(2 ** 30))
        da = dA(rng, pytensor_rng, x, n_visible=28 * 28, n_hidden=500)
        cost, updates = da.get_cost_updates(corruption_level, learning_rate)
        minibatch = train_set_x[index * batch_size: (index + 1) * batch_size]
        train_da = pytensor.function([index], cost, updates=updates,
                                     givens={x: minibatch})
        # end-snippet-train

        checkpoint = Checkpoint(
            output_folder, name=f"checkpoint_corruption_{percent}.npz",
            config=dict(script="dA", corruption_level=corruption_level,
                        learning_rate=learning_rate, training_epochs=training_epochs,
                        batch_size=batch_size, floatX=pytensor.config.floatX,
                        **dataset_fingerprint(dataset, datasets)),
            variables={"W": da.W, "b": da.b, "b_prime": da.b_prime,
                       "pytensor_rng": pytensor_rng, "numpy_rng": rng})

        # start-snippet-epochs
        # the mean cost of each epoch so far: none for a new run, those of
        # the checkpoint with --resume (the later models may not have one yet)
        costs = checkpoint.restore(resume, missing_ok=corruption_level != corruption_levels[0],
                                   costs=[])
        start_time = timer()
        for epoch in range(len(costs), training_epochs):
            # one pass over the training set, one SGD step per minibatch
            c = []
            for batch_index in range(n_train_batches):
                c.append(train_da(batch_index))
            costs.append(numpy.mean(c, dtype="float64"))
            print("Training epoch %d, cost " % epoch, costs[-1])
            checkpoint.save(costs=costs)
        training_time = timer() - start_time
        # end-snippet-epochs
        label = "no corruption" if percent == 0 else f"{percent}% corruption"
        report_time(__file__, training_time, what=f"The {label} code")
        all_costs[corruption_level] = costs

        # start-snippet-filters
        # each column of W is one hidden unit's filter: draw the first 100,
        # 28x28 pixels each, 10 to a row, one blank pixel between them
        filters = da.W.get_value(borrow=True).T
        picture = tile_raster_images(filters, (28, 28), (10, 10), tile_spacing=(1, 1))
        save_picture(os.path.join(output_folder, f"filters_corruption_{percent}.png"),
                     Image.fromarray(picture))
        # end-snippet-filters

    plot_curves(os.path.join(output_folder, "training_cost.png"),
                {f"{round(level * 100)} % corruption": (range(len(c)), c)
                 for level, c in all_costs.items()},
                "epoch", "mean reconstruction cost", "Denoising autoencoders on MNIST")
    return Result(epochs=training_epochs, costs=all_costs)


def main(argv=None):
    parser = ArgumentParser(
        description="Train denoising autoencoders on MNIST at 0 % and 30 % corruption "
                    "and draw their filters.")
    parser.add_argument("--learning-rate", type=positive_float, default=0.1, help="SGD step size")
    parser.add_argument("--training-epochs", type=positive_int, default=15,
                        help="epochs per model")
    parser.add_argument("--batch-size", type=positive_int, default=20,
                        help="examples per minibatch")
    add_common_arguments(parser, output_folder="dA_plots")
    args = parser.parse_args(argv)
    apply_common_arguments(args)
    install_speedups(enabled=not args.no_speedups)   # faster Numba code, same results
    run_cli(lambda: test_dA(
        learning_rate=args.learning_rate, training_epochs=args.training_epochs,
        dataset=args.dataset, batch_size=args.batch_size,
        output_folder=args.output_folder, resume=args.resume))


if __name__ == "__main__":
    main()
