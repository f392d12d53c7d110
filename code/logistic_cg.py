"""Logistic regression on MNIST, trained by SciPy's conjugate gradient.

The model is the one of logistic_sgd.py. What changes is the optimiser:
instead of a small step after every minibatch, scipy.optimize.fmin_cg takes
the cost and the gradient over the whole training set, picks a search
direction that does not undo the progress of the directions before it, and
moves along it as far as a line search finds useful. It needs the parameters
as one vector, so W and b are two views of one shared vector, theta.

Run it:  python code/logistic_cg.py          (python code/logistic_cg.py --help)
The original published no figure for it; our run is in docs/logreg.md.
"""

import os
import sys

import numpy
import scipy.optimize

import pytensor
import pytensor.tensor as pt

import logistic_sgd
from machinery import (ArgumentParser, Result, add_common_arguments,
                       apply_common_arguments, check_batch_size, install_speedups,
                       positive_int, run_cli, save_arrays, timer)
from utils import load_data, plot_curves


# start-snippet-model
class LogisticRegression(logistic_sgd.LogisticRegression):
    """A softmax layer whose W and b live in one parameter vector, theta.

    The cost and the error rate are those of logistic_sgd.LogisticRegression.
    """

    def __init__(self, input, n_in, n_out):
        """
        input: symbolic matrix, one example per row (a minibatch).
        n_in: size of each example (784 for MNIST).
        n_out: number of classes (10 digits).
        """
        # theta holds W (n_in x n_out, row by row) followed by b (n_out);
        # W and b are symbolic views into it, so a gradient with respect to
        # theta is one vector, the form fmin_cg works with
        self.theta = pytensor.shared(
            value=numpy.zeros(n_in * n_out + n_out, dtype=pytensor.config.floatX),
            name="theta", borrow=True)
        self.W = self.theta[0:n_in * n_out].reshape((n_in, n_out))
        self.b = self.theta[n_in * n_out:n_in * n_out + n_out]

        # one row of class probabilities per example (axis=-1: per row)
        self.p_y_given_x = pt.special.softmax(pt.dot(input, self.W) + self.b, axis=-1)
        self.y_pred = pt.argmax(self.p_y_given_x, axis=-1)
        self.params = [self.theta]
        self.input = input
# end-snippet-model


def cg_optimization_mnist(n_epochs=50, mnist_pkl_gz="mnist.pkl.gz",
                          output_folder="logistic_cg_out"):
    """Train LogisticRegression on MNIST with scipy.optimize.fmin_cg.

    n_epochs: at most this many conjugate-gradient iterations (each looks at
        the whole training set at least twice: cost and gradient).
    mnist_pkl_gz: the dataset, see utils.load_mnist.
    output_folder: where best_model.npz and validation_error.png go.
    Returns a Result (best validation error, its test error, iterations run).
    """
    if n_epochs < 1:
        raise ValueError(f"n_epochs must be at least 1, got {n_epochs}")
    datasets = load_data(mnist_pkl_gz)
    train_set_x, train_set_y = datasets[0]
    valid_set_x, valid_set_y = datasets[1]
    test_set_x, test_set_y = datasets[2]

    batch_size = 600    # the cost and gradient are summed minibatch by minibatch
    for set_x, what in ((train_set_x, "training"), (valid_set_x, "validation"),
                        (test_set_x, "test")):
        check_batch_size(batch_size, set_x.get_value(borrow=True).shape[0], what)
    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size
    n_valid_batches = valid_set_x.get_value(borrow=True).shape[0] // batch_size
    n_test_batches = test_set_x.get_value(borrow=True).shape[0] // batch_size
    os.makedirs(output_folder, exist_ok=True)

    n_in = 28 * 28     # pixels per image
    n_out = 10         # classes

    print("... building the model")

    # start-snippet-functions
    minibatch_offset = pt.lscalar()   # where a minibatch starts, in examples
    x = pt.matrix()
    y = pt.ivector()

    classifier = LogisticRegression(input=x, n_in=n_in, n_out=n_out)
    cost = classifier.negative_log_likelihood(y)

    def batch(data):
        return data[minibatch_offset:minibatch_offset + batch_size]

    test_model = pytensor.function(
        [minibatch_offset], classifier.errors(y),
        givens={x: batch(test_set_x), y: batch(test_set_y)}, name="test")
    validate_model = pytensor.function(
        [minibatch_offset], classifier.errors(y),
        givens={x: batch(valid_set_x), y: batch(valid_set_y)}, name="validate")
    # the cost of one minibatch, and its gradient with respect to theta; no
    # updates: fmin_cg, not PyTensor, decides where theta goes next
    batch_cost = pytensor.function(
        [minibatch_offset], cost,
        givens={x: batch(train_set_x), y: batch(train_set_y)}, name="batch_cost")
    batch_grad = pytensor.function(
        [minibatch_offset], pt.grad(cost, classifier.theta),
        givens={x: batch(train_set_x), y: batch(train_set_y)}, name="batch_grad")
    # end-snippet-functions

    # start-snippet-scipy
    def set_theta(theta_value):
        # fmin_cg works in float64; the shared vector is in floatX
        classifier.theta.set_value(
            numpy.asarray(theta_value, dtype=pytensor.config.floatX), borrow=True)

    def train_fn(theta_value):
        """The mean cost over the training set at theta_value."""
        set_theta(theta_value)
        train_losses = [batch_cost(i * batch_size) for i in range(n_train_batches)]
        return numpy.mean(train_losses, dtype="float64")

    def train_fn_grad(theta_value):
        """The gradient of that mean cost at theta_value."""
        set_theta(theta_value)
        grad = numpy.array(batch_grad(0), dtype="float64")
        for i in range(1, n_train_batches):
            grad += batch_grad(i * batch_size)
        return grad / n_train_batches

    # the best validation error so far and the test error of that theta
    validation_scores = [numpy.inf, 0.0]
    history = []

    def callback(theta_value):
        """Called by fmin_cg after each iteration: score the new theta."""
        set_theta(theta_value)
        validation_losses = [validate_model(i * batch_size) for i in range(n_valid_batches)]
        this_validation_loss = numpy.mean(validation_losses, dtype="float64")
        history.append(this_validation_loss)
        print("validation error %f %%" % (this_validation_loss * 100.0,))
        if this_validation_loss < validation_scores[0]:
            validation_scores[0] = this_validation_loss
            test_losses = [test_model(i * batch_size) for i in range(n_test_batches)]
            validation_scores[1] = numpy.mean(test_losses, dtype="float64")
            save_arrays(os.path.join(output_folder, "best_model.npz"),
                        W=numpy.asarray(theta_value[:n_in * n_out]).reshape(n_in, n_out),
                        b=numpy.asarray(theta_value[n_in * n_out:]))

    print("Optimizing using scipy.optimize.fmin_cg...")
    start_time = timer()
    best_w_b = scipy.optimize.fmin_cg(
        f=train_fn, x0=numpy.zeros((n_in + 1) * n_out, dtype=x.dtype),
        fprime=train_fn_grad, callback=callback, disp=0, maxiter=n_epochs)
    end_time = timer()
    print("Optimization complete with best validation score of %f %%, "
          "with test performance %f %%"
          % (validation_scores[0] * 100.0, validation_scores[1] * 100.0))
    print("The code for file " + os.path.basename(__file__)
          + " ran for %.1fs" % (end_time - start_time), file=sys.stderr)
    # end-snippet-scipy

    set_theta(best_w_b)   # where fmin_cg stopped (not always the best on validation)
    plot_curves(os.path.join(output_folder, "validation_error.png"),
                {"validation error": (range(1, len(history) + 1),
                                      [100 * e for e in history])},
                "conjugate-gradient iteration", "validation error (%)",
                "Logistic regression by conjugate gradient")
    return Result(best_validation_loss=validation_scores[0], test_score=validation_scores[1],
                  epochs=len(history))


def main(argv=None):
    parser = ArgumentParser(
        description="Train logistic regression on MNIST with SciPy's conjugate gradient "
                    "(scipy.optimize.fmin_cg), scoring the validation set after each "
                    "iteration.")
    parser.add_argument("--n-epochs", type=positive_int, default=50,
                        help="at most this many conjugate-gradient iterations")
    add_common_arguments(parser, output_folder="logistic_cg_out", resume=False)
    args = parser.parse_args(argv)
    apply_common_arguments(args)
    install_speedups(enabled=not args.no_speedups)   # faster Numba code, same results
    run_cli(lambda: cg_optimization_mnist(n_epochs=args.n_epochs, mnist_pkl_gz=args.dataset,
                                          output_folder=args.output_folder))


if __name__ == "__main__":
    main()
