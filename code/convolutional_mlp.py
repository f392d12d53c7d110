"""LeNet: a convolutional network on MNIST.

Two convolution + max-pooling layers find local features (strokes, then
parts of digits) with the same small filters all over the image; a tanh
hidden layer and a logistic regression layer classify what they found:

    28x28 image -> 20 maps 24x24 -> pooled 12x12 -> 50 maps 8x8 -> pooled 4x4
                -> 500 tanh units -> softmax over 10 digits

Trained by minibatch SGD with early stopping, as in mlp.py.

Run it:  python code/convolutional_mlp.py     (python code/convolutional_mlp.py --help)
Published result: best validation error 0.91 % at iteration 17800, test
error 0.92 %.
"""

import os

if __name__ == "__main__":
    # Measured on a 2-core machine (docs: lenet): a second BLAS thread made
    # the training step slower, 327 ms against 223 ms in float32: the
    # products are split into blocks too small to share. Only when run as a
    # script (importing the lesson changes nothing); your own
    # OPENBLAS_NUM_THREADS wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy

import pytensor
import pytensor.tensor as pt

from conv import conv2d, expect_object_mode, max_pool_2d
from logistic_sgd import LogisticRegression
from machinery import (SPLITS, ArgumentParser, Checkpoint, Result, add_common_arguments,
                       apply_common_arguments, check_batch_size, check_model_size,
                       dataset_fingerprint, install_speedups, note, positive_float,
                       positive_int, report_time, run_cli, save_picture, split_sizes, timer)
from mlp import HiddenLayer
from utils import load_data, plot_validation_history, tile_raster_images


# start-snippet-layer
class LeNetConvPoolLayer(object):
    """A convolution layer followed by max-pooling: tanh(pool(conv(input, W)) + b)."""

    def __init__(self, rng, input, filter_shape, image_shape, poolsize=(2, 2)):
        """
        rng: numpy.random.RandomState that draws the initial filters.
        input: symbolic 4-d tensor laid out as image_shape.
        filter_shape: (number of filters, input feature maps, filter height,
                       filter width).
        image_shape: (batch size, input feature maps, image height, image width).
        poolsize: the pooling block, (rows, columns).
        """
        if image_shape[1] != filter_shape[1]:
            raise ValueError(f"the filters expect {filter_shape[1]} input maps, the image "
                             f"has {image_shape[1]}")
        self.input = input

        # each hidden unit sees filter height * width pixels of every input map
        fan_in = numpy.prod(filter_shape[1:])
        # each pixel of a map reaches (filters * height * width) units,
        # fewer after pooling
        fan_out = filter_shape[0] * numpy.prod(filter_shape[2:]) // numpy.prod(poolsize)
        W_bound = numpy.sqrt(6.0 / (fan_in + fan_out))
        self.W = pytensor.shared(
            numpy.asarray(rng.uniform(low=-W_bound, high=W_bound, size=filter_shape),
                          dtype=pytensor.config.floatX),
            borrow=True)
        # one bias per output feature map
        b_values = numpy.zeros((filter_shape[0],), dtype=pytensor.config.floatX)
        self.b = pytensor.shared(value=b_values, borrow=True)

        # the same filters slide over the whole image: a true convolution,
        # as Theano's conv2d computed it
        conv_out = conv2d(input, self.W, filter_shape=filter_shape, image_shape=image_shape)

        # keep the strongest answer of each poolsize block
        pooled_out = max_pool_2d(conv_out, poolsize)

        # the bias is a vector: broadcast it over images, rows and columns
        self.output = pt.tanh(pooled_out + self.b.dimshuffle("x", 0, "x", "x"))

        self.params = [self.W, self.b]
# end-snippet-layer


def evaluate_lenet5(learning_rate=0.1, n_epochs=200, dataset="mnist.pkl.gz",
                    nkerns=[20, 50], batch_size=500, output_folder="lenet_out",
                    resume=False):
    """Train LeNet on MNIST with minibatch SGD and early stopping.

    learning_rate: SGD step size.
    n_epochs: at most this many passes over the training set.
    dataset: see utils.load_mnist.
    nkerns: the number of filters in the first and second layer.
    batch_size: examples per minibatch.
    output_folder: where the checkpoint and pictures go.
    resume: continue from the checkpoint in output_folder.
    Returns a Result (best validation error, the iteration it was reached at,
    its test error, epochs run).
    """
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}")
    if batch_size < 1 or n_epochs < 1:
        raise ValueError(f"batch_size and n_epochs must be at least 1, got {batch_size}, "
                         f"{n_epochs}")
    if len(nkerns) != 2 or min(nkerns) < 1:
        raise ValueError(f"nkerns must be two positive numbers, got {nkerns}")
    datasets = load_data(dataset)
    train_set_x, train_set_y = datasets[0]
    valid_set_x, valid_set_y = datasets[1]
    test_set_x, test_set_y = datasets[2]
    check_batch_size(batch_size, split_sizes(datasets), SPLITS)

    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size
    n_valid_batches = valid_set_x.get_value(borrow=True).shape[0] // batch_size
    n_test_batches = test_set_x.get_value(borrow=True).shape[0] // batch_size
    os.makedirs(output_folder, exist_ok=True)

    index = pt.lscalar()
    x = pt.matrix("x")
    y = pt.ivector("y")

    # the seed the original used, so training starts from its exact weights
    rng = numpy.random.RandomState(23455)

    # start-snippet-model
    print("... building the model")

    # a minibatch of flat rows becomes (batch, 1 feature map, 28, 28)
    layer0_input = x.reshape((batch_size, 1, 28, 28))

    # 5x5 filters: 28 - 5 + 1 = 24 per side, pooled to 12;
    # output (batch_size, nkerns[0], 12, 12)
    layer0 = LeNetConvPoolLayer(rng, input=layer0_input,
                                image_shape=(batch_size, 1, 28, 28),
                                filter_shape=(nkerns[0], 1, 5, 5), poolsize=(2, 2))

    # 12 - 5 + 1 = 8 per side, pooled to 4; output (batch_size, nkerns[1], 4, 4)
    layer1 = LeNetConvPoolLayer(rng, input=layer0.output,
                                image_shape=(batch_size, nkerns[0], 12, 12),
                                filter_shape=(nkerns[1], nkerns[0], 5, 5), poolsize=(2, 2))

    # the fully connected layers take each image's maps as one row
    layer2_input = layer1.output.flatten(2)
    layer2 = HiddenLayer(rng, input=layer2_input, n_in=nkerns[1] * 4 * 4, n_out=500,
                         activation=pt.tanh)
    layer3 = LogisticRegression(input=layer2.output, n_in=500, n_out=10)

    cost = layer3.negative_log_likelihood(y)
    # end-snippet-model

    def batch(data):
        return data[index * batch_size: (index + 1) * batch_size]

    test_model = pytensor.function(
        [index], layer3.errors(y), givens={x: batch(test_set_x), y: batch(test_set_y)})
    validate_model = pytensor.function(
        [index], layer3.errors(y), givens={x: batch(valid_set_x), y: batch(valid_set_y)})

    # start-snippet-updates
    params = layer3.params + layer2.params + layer1.params + layer0.params
    grads = pt.grad(cost, params)
    updates = [(param_i, param_i - learning_rate * grad_i)
               for param_i, grad_i in zip(params, grads)]
    train_model = pytensor.function(
        [index], cost, updates=updates,
        givens={x: batch(train_set_x), y: batch(train_set_y)})
    # end-snippet-updates

    checkpoint = Checkpoint(
        output_folder,
        config=dict(script="convolutional_mlp", learning_rate=learning_rate,
                    n_epochs=n_epochs, nkerns=list(nkerns), batch_size=batch_size,
                    floatX=pytensor.config.floatX, **dataset_fingerprint(dataset, datasets)),
        variables={"W0": layer0.W, "b0": layer0.b, "W1": layer1.W, "b1": layer1.b,
                   "W2": layer2.W, "b2": layer2.b, "W3": layer3.W, "b3": layer3.b})

    # start-snippet-training
    print("... training")
    # early stopping, as in mlp.py
    patience = 10000               # look at this many minibatches whatever happens
    patience_increase = 2          # after a clear improvement, wait this many times longer
    improvement_threshold = 0.995  # clear: at least 0.5 % below the best error so far
    validation_frequency = min(n_train_batches, patience // 2)

    # where a new run starts; --resume takes them from the checkpoint instead
    (epoch, patience, best_validation_loss, best_iter, test_score, done_looping,
     history) = checkpoint.restore(resume, epoch=0, patience=patience,
                                   best_validation_loss=numpy.inf, best_iter=0,
                                   test_score=0.0, done_looping=False, history=[])
    start_time = timer()
    while epoch < n_epochs and not done_looping:
        epoch = epoch + 1
        for minibatch_index in range(n_train_batches):
            iter = (epoch - 1) * n_train_batches + minibatch_index
            if iter % 100 == 0:
                print("training @ iter = ", iter)
            cost_ij = train_model(minibatch_index)

            if (iter + 1) % validation_frequency == 0:
                validation_losses = [validate_model(i) for i in range(n_valid_batches)]
                this_validation_loss = numpy.mean(validation_losses, dtype="float64")
                history.append((iter + 1, this_validation_loss))
                print("epoch %i, minibatch %i/%i, validation error %f %%"
                      % (epoch, minibatch_index + 1, n_train_batches,
                         this_validation_loss * 100.0))

                if this_validation_loss < best_validation_loss:
                    if this_validation_loss < best_validation_loss * improvement_threshold:
                        patience = max(patience, iter * patience_increase)
                    best_validation_loss = this_validation_loss
                    best_iter = iter
                    test_losses = [test_model(i) for i in range(n_test_batches)]
                    test_score = numpy.mean(test_losses, dtype="float64")
                    print("     epoch %i, minibatch %i/%i, test error of best model %f %%"
                          % (epoch, minibatch_index + 1, n_train_batches,
                             test_score * 100.0))

            if patience <= iter:
                done_looping = True
                break
        checkpoint.save(epoch=epoch, patience=patience,
                        best_validation_loss=best_validation_loss, best_iter=best_iter,
                        test_score=test_score, done_looping=done_looping, history=history)
    end_time = timer()
    # end-snippet-training

    print("Optimization complete.")
    print("Best validation score of %f %% obtained at iteration %i, "
          "with test performance %f %%"
          % (best_validation_loss * 100.0, best_iter + 1, test_score * 100.0))
    report_time(__file__, end_time - start_time)

    draw_layer0(layer0, x, test_set_x, batch_size, nkerns[0], output_folder)
    plot_validation_history(os.path.join(output_folder, "validation_error.png"),
                            history, n_train_batches, "LeNet on MNIST")
    return Result(best_validation_loss=best_validation_loss, best_iter=best_iter + 1,
                  test_score=test_score, epochs=epoch)


def draw_layer0(layer0, x, test_set_x, batch_size, n_filters, output_folder, n_digits=4):
    """Two pictures: the first layer's filters, and the feature maps they
    give (after pooling and tanh) for the first few test digits, one row
    per digit, the digit itself first."""
    from PIL import Image
    # start-snippet-pictures
    filters = layer0.W.get_value()[:, 0]                   # (n_filters, 5, 5)
    picture = tile_raster_images(filters.reshape(n_filters, 25), (5, 5),
                                 (1, n_filters), tile_spacing=(1, 1))
    save_picture(os.path.join(output_folder, "filters_layer0.png"),
                 Image.fromarray(picture).resize(
                     (picture.shape[1] * 8, picture.shape[0] * 8), Image.NEAREST))

    images = test_set_x.get_value()[:batch_size]
    maps = pytensor.function([x], layer0.output)(images)[:n_digits]   # (digits, maps, 12, 12)
    rows = []
    for digit, digit_maps in zip(images, maps):
        # the digit shrunk to 12x12 by taking every other pixel of its middle 24x24
        small = digit.reshape(28, 28)[2:26:2, 2:26:2]
        rows.append(numpy.concatenate([small[None], digit_maps]).reshape(n_filters + 1, 144))
    picture = tile_raster_images(numpy.concatenate(rows), (12, 12),
                                 (n_digits, n_filters + 1), tile_spacing=(1, 1))
    save_picture(os.path.join(output_folder, "feature_maps.png"),
                 Image.fromarray(picture).resize(
                     (picture.shape[1] * 4, picture.shape[0] * 4), Image.NEAREST))
    # end-snippet-pictures


def main(argv=None):
    parser = ArgumentParser(
        description="Train LeNet (two convolution and max-pooling layers, a tanh layer "
                    "and a softmax) on MNIST with minibatch SGD and early stopping.")
    parser.add_argument("--learning-rate", type=positive_float, default=0.1,
                        help="SGD step size")
    parser.add_argument("--n-epochs", type=positive_int, default=200,
                        help="at most this many epochs")
    parser.add_argument("--batch-size", type=positive_int, default=500,
                        help="examples per minibatch")
    parser.add_argument("--nkerns", type=positive_int, nargs=2, default=[20, 50],
                        metavar=("FIRST", "SECOND"),
                        help="number of filters in the two convolution layers")
    add_common_arguments(parser, output_folder="lenet_out")
    args = parser.parse_args(argv)
    k0, k1 = args.nkerns
    check_model_size(k0 * 25 + k1 * k0 * 25 + k1 * 16 * 500 + 500 * 10)
    apply_common_arguments(args)
    if not install_speedups(enabled=not args.no_speedups):   # compiled convolution
        note(expect_object_mode())
    run_cli(lambda: evaluate_lenet5(
        learning_rate=args.learning_rate, n_epochs=args.n_epochs, dataset=args.dataset,
        nkerns=args.nkerns, batch_size=args.batch_size, output_folder=args.output_folder,
        resume=args.resume))


if __name__ == "__main__":
    main()
