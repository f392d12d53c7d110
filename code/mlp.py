"""A multilayer perceptron on MNIST: one tanh hidden layer under a softmax.

    f(x) = softmax(W2 tanh(W1 x + b1) + b2)

The hidden layer learns features; the logistic regression layer of
logistic_sgd.py classifies them. The cost adds L1 and L2 penalties on the
weights to the negative log-likelihood, and training stops early as before.

Run it:  python code/mlp.py          (python code/mlp.py --help)
Published result: best validation error 1.69 % at iteration 2,070,000 (in
epoch 828), test error 1.65 %.
"""

import os

import numpy

import pytensor
import pytensor.tensor as pt

from logistic_sgd import LogisticRegression
from machinery import (SPLITS, ArgumentParser, Checkpoint, Result, add_common_arguments,
                       apply_common_arguments, check_batch_size, check_model_size,
                       dataset_fingerprint, install_speedups, non_negative_float,
                       positive_float, positive_int, report_time, run_cli, split_sizes,
                       timer)
from utils import load_data, plot_validation_history


# start-snippet-hidden
class HiddenLayer(object):
    """A fully connected layer: output = activation(input W + b)."""

    def __init__(self, rng, input, n_in, n_out, W=None, b=None,
                 activation=pt.tanh):
        """
        rng: numpy.random.RandomState that draws the initial weights.
        input: symbolic matrix (n_examples, n_in).
        n_in, n_out: sizes of the input and of the layer.
        W, b: existing shared variables to use instead of fresh ones
              (the SdA shares them with its autoencoders).
        activation: the non-linearity; None for a linear layer.
        """
        self.input = input
        if W is None:
            # Uniform in +-sqrt(6 / (fan_in + fan_out)) keeps tanh units in
            # their linear range at the start, so gradients flow both ways
            # (Glorot & Bengio, 2010). The sigmoid is four times flatter at 0,
            # so its weights are four times larger.
            bound = numpy.sqrt(6.0 / (n_in + n_out))
            W_values = numpy.asarray(
                rng.uniform(low=-bound, high=bound, size=(n_in, n_out)),
                dtype=pytensor.config.floatX)
            if activation is pt.sigmoid:
                W_values *= 4
            W = pytensor.shared(value=W_values, name="W", borrow=True)
        if b is None:
            b_values = numpy.zeros((n_out,), dtype=pytensor.config.floatX)
            b = pytensor.shared(value=b_values, name="b", borrow=True)
        self.W = W
        self.b = b

        lin_output = pt.dot(input, self.W) + self.b
        self.output = lin_output if activation is None else activation(lin_output)
        self.params = [self.W, self.b]
# end-snippet-hidden


# start-snippet-mlp
class MLP(object):
    """A hidden tanh layer feeding a LogisticRegression layer."""

    def __init__(self, rng, input, n_in, n_hidden, n_out):
        self.hiddenLayer = HiddenLayer(rng=rng, input=input, n_in=n_in,
                                       n_out=n_hidden, activation=pt.tanh)
        self.logRegressionLayer = LogisticRegression(
            input=self.hiddenLayer.output, n_in=n_hidden, n_out=n_out)

        # Regularisers over the weights only: biases are left free.
        self.L1 = abs(self.hiddenLayer.W).sum() + abs(self.logRegressionLayer.W).sum()
        self.L2_sqr = (self.hiddenLayer.W ** 2).sum() + (self.logRegressionLayer.W ** 2).sum()

        # the classification cost and error are those of the top layer
        self.negative_log_likelihood = self.logRegressionLayer.negative_log_likelihood
        self.errors = self.logRegressionLayer.errors

        self.params = self.hiddenLayer.params + self.logRegressionLayer.params
        self.input = input
# end-snippet-mlp


def test_mlp(learning_rate=0.01, L1_reg=0.00, L2_reg=0.0001, n_epochs=1000,
             dataset="mnist.pkl.gz", batch_size=20, n_hidden=500,
             output_folder="mlp_out", resume=False):
    """Train the MLP on MNIST with minibatch SGD and early stopping.

    learning_rate: SGD step size.
    L1_reg, L2_reg: weights of the L1 and squared-L2 penalties in the cost.
    n_epochs: at most this many passes over the training set.
    dataset: see utils.load_mnist.
    batch_size: examples per minibatch.
    n_hidden: units in the hidden layer.
    output_folder: where the checkpoint and validation_error.png go.
    resume: continue from the checkpoint in output_folder.
    Returns a Result (best validation error, the iteration it was reached at,
    its test error, epochs run).
    """
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}")
    if L1_reg < 0 or L2_reg < 0:
        raise ValueError(f"L1_reg and L2_reg must be zero or more, got {L1_reg}, {L2_reg}")
    if batch_size < 1 or n_epochs < 1 or n_hidden < 1:
        raise ValueError("batch_size, n_epochs and n_hidden must be at least 1, got "
                         f"{batch_size}, {n_epochs}, {n_hidden}")
    datasets = load_data(dataset)
    train_set_x, train_set_y = datasets[0]
    valid_set_x, valid_set_y = datasets[1]
    test_set_x, test_set_y = datasets[2]
    check_batch_size(batch_size, split_sizes(datasets), SPLITS)

    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size
    n_valid_batches = valid_set_x.get_value(borrow=True).shape[0] // batch_size
    n_test_batches = test_set_x.get_value(borrow=True).shape[0] // batch_size
    os.makedirs(output_folder, exist_ok=True)

    print("... building the model")

    index = pt.lscalar()
    x = pt.matrix("x")
    y = pt.ivector("y")

    # the seed the original used, so training starts from its exact weights
    rng = numpy.random.RandomState(1234)
    classifier = MLP(rng=rng, input=x, n_in=28 * 28, n_hidden=n_hidden, n_out=10)

    # start-snippet-cost
    cost = (classifier.negative_log_likelihood(y)
            + L1_reg * classifier.L1
            + L2_reg * classifier.L2_sqr)
    # end-snippet-cost

    def batch(data):
        return data[index * batch_size: (index + 1) * batch_size]

    test_model = pytensor.function(
        inputs=[index], outputs=classifier.errors(y),
        givens={x: batch(test_set_x), y: batch(test_set_y)})
    validate_model = pytensor.function(
        inputs=[index], outputs=classifier.errors(y),
        givens={x: batch(valid_set_x), y: batch(valid_set_y)})

    # start-snippet-updates
    # one gradient per parameter, in the order of classifier.params
    gparams = [pt.grad(cost, param) for param in classifier.params]
    updates = [(param, param - learning_rate * gparam)
               for param, gparam in zip(classifier.params, gparams)]
    train_model = pytensor.function(
        inputs=[index], outputs=cost, updates=updates,
        givens={x: batch(train_set_x), y: batch(train_set_y)})
    # end-snippet-updates

    checkpoint = Checkpoint(
        output_folder,
        config=dict(script="mlp", learning_rate=learning_rate, L1_reg=L1_reg, L2_reg=L2_reg,
                    n_epochs=n_epochs, batch_size=batch_size, n_hidden=n_hidden,
                    floatX=pytensor.config.floatX, **dataset_fingerprint(dataset, datasets)),
        variables={"W1": classifier.hiddenLayer.W, "b1": classifier.hiddenLayer.b,
                   "W2": classifier.logRegressionLayer.W,
                   "b2": classifier.logRegressionLayer.b})

    # start-snippet-training
    print("... training")
    # early stopping, as in logistic_sgd.py, with more patience
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
            minibatch_avg_cost = train_model(minibatch_index)
            iter = (epoch - 1) * n_train_batches + minibatch_index

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

    print("Optimization complete. Best validation score of %f %% "
          "obtained at iteration %i, with test performance %f %%"
          % (best_validation_loss * 100.0, best_iter + 1, test_score * 100.0))
    report_time(__file__, end_time - start_time)
    plot_validation_history(os.path.join(output_folder, "validation_error.png"),
                            history, n_train_batches, "Multilayer perceptron on MNIST")
    return Result(best_validation_loss=best_validation_loss, best_iter=best_iter + 1,
                  test_score=test_score, epochs=epoch)


def main(argv=None):
    parser = ArgumentParser(
        description="Train a one-hidden-layer perceptron on MNIST with minibatch SGD, "
                    "L1/L2 penalties and early stopping.")
    parser.add_argument("--learning-rate", type=positive_float, default=0.01, help="SGD step size")
    parser.add_argument("--L1-reg", type=non_negative_float, default=0.00,
                        help="weight of the L1 penalty")
    parser.add_argument("--L2-reg", type=non_negative_float, default=0.0001,
                        help="weight of the squared L2 penalty")
    parser.add_argument("--n-epochs", type=positive_int, default=1000,
                        help="at most this many epochs")
    parser.add_argument("--batch-size", type=positive_int, default=20,
                        help="examples per minibatch")
    parser.add_argument("--n-hidden", type=positive_int, default=500, help="hidden units")
    add_common_arguments(parser, output_folder="mlp_out")
    args = parser.parse_args(argv)
    check_model_size(28 * 28 * args.n_hidden + args.n_hidden * 10)
    apply_common_arguments(args)
    install_speedups(enabled=not args.no_speedups)   # faster Numba code, same results
    run_cli(lambda: test_mlp(
        learning_rate=args.learning_rate, L1_reg=args.L1_reg, L2_reg=args.L2_reg,
        n_epochs=args.n_epochs, dataset=args.dataset, batch_size=args.batch_size,
        n_hidden=args.n_hidden, output_folder=args.output_folder, resume=args.resume))


if __name__ == "__main__":
    main()
