"""Multiclass logistic regression on MNIST, trained by minibatch SGD.

The model maps an image x to class probabilities

    P(Y = i | x, W, b) = softmax_i(x W + b)

and predicts the most probable class. Training minimises the mean negative
log-likelihood of the true labels and stops early once the error on the
validation set no longer improves.

Run it:  python code/logistic_sgd.py          (python code/logistic_sgd.py --help)
Published result: stops after 74 epochs, best validation error 7.500000 %,
test error 7.489583 %.
"""

import os
import sys

import numpy

import pytensor
import pytensor.tensor as pt

from machinery import (SPLITS, ArgumentParser, Checkpoint, Result, add_common_arguments,
                       load_arrays,
                       apply_common_arguments, check_batch_size, dataset_fingerprint,
                       install_speedups, positive_float, positive_int, run_cli,
                       save_arrays, split_sizes, timer)
from utils import load_data, plot_validation_history


# start-snippet-model
class LogisticRegression(object):
    """A softmax layer: weights W and bias b map an input to class probabilities."""

    def __init__(self, input, n_in, n_out):
        """
        input: symbolic matrix, one example per row (a minibatch).
        n_in: size of each example (784 for MNIST).
        n_out: number of classes (10 digits).
        """
        # Zeros are a fine start here: the cost is convex, there is no
        # symmetry to break.
        self.W = pytensor.shared(
            value=numpy.zeros((n_in, n_out), dtype=pytensor.config.floatX),
            name="W", borrow=True)
        self.b = pytensor.shared(
            value=numpy.zeros((n_out,), dtype=pytensor.config.floatX),
            name="b", borrow=True)

        # One row of class probabilities per example. The axis matters:
        # PyTensor's softmax normalises over the whole matrix unless told.
        self.p_y_given_x = pt.special.softmax(pt.dot(input, self.W) + self.b, axis=-1)

        # the predicted class is the most probable one
        self.y_pred = pt.argmax(self.p_y_given_x, axis=1)

        self.params = [self.W, self.b]
        self.input = input
# end-snippet-model

    # start-snippet-nll
    def negative_log_likelihood(self, y):
        """Mean over the minibatch of -log P(Y = y_i | x_i).

        The mean, not the sum, keeps the learning rate independent of the
        batch size.
        """
        # Row i of log p, column y[i]: the log-probability of the true class.
        # PyTensor rewrites log(softmax) into a stable log_softmax for us.
        log_p = pt.log(self.p_y_given_x)
        return -pt.mean(log_p[pt.arange(y.shape[0]), y])
    # end-snippet-nll

    # start-snippet-errors
    def errors(self, y):
        """Fraction of the minibatch that is misclassified (the zero-one loss)."""
        if y.ndim != self.y_pred.ndim:
            raise TypeError("y should have the same shape as self.y_pred",
                            ("y", y.type, "y_pred", self.y_pred.type))
        if not y.dtype.startswith("int"):
            raise NotImplementedError(f"y must hold integer labels, not {y.dtype}")
        return pt.mean(pt.neq(self.y_pred, y))
    # end-snippet-errors


def sgd_optimization_mnist(learning_rate=0.13, n_epochs=1000,
                           dataset="mnist.pkl.gz", batch_size=600,
                           output_folder="logistic_sgd_out", resume=False):
    """Train LogisticRegression on MNIST with minibatch SGD and early stopping.

    learning_rate: SGD step size.
    n_epochs: at most this many passes over the training set.
    dataset: see utils.load_mnist.
    batch_size: examples per minibatch (the last partial batch is dropped).
    output_folder: where best_model.npz and the checkpoint are written.
    resume: continue from the checkpoint in output_folder.
    Returns a Result (best validation error, its test error, epochs run).
    """
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}")
    if batch_size < 1 or n_epochs < 1:
        raise ValueError(f"batch_size and n_epochs must be at least 1, got "
                         f"{batch_size} and {n_epochs}")
    datasets = load_data(dataset)
    train_set_x, train_set_y = datasets[0]
    valid_set_x, valid_set_y = datasets[1]
    test_set_x, test_set_y = datasets[2]
    check_batch_size(batch_size, split_sizes(datasets), SPLITS)

    # whole minibatches only
    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size
    n_valid_batches = valid_set_x.get_value(borrow=True).shape[0] // batch_size
    n_test_batches = test_set_x.get_value(borrow=True).shape[0] // batch_size
    os.makedirs(output_folder, exist_ok=True)

    print("... building the model")

    # start-snippet-symbols
    index = pt.lscalar()   # which minibatch
    x = pt.matrix("x")     # its images, one per row
    y = pt.ivector("y")    # its labels

    classifier = LogisticRegression(input=x, n_in=28 * 28, n_out=10)
    cost = classifier.negative_log_likelihood(y)
    # end-snippet-symbols

    # start-snippet-functions
    def batch(data):
        return data[index * batch_size: (index + 1) * batch_size]

    # `givens` swaps x and y for a slice of the shared data, so a call only
    # passes an integer and the images never leave the compiled function.
    test_model = pytensor.function(
        inputs=[index], outputs=classifier.errors(y),
        givens={x: batch(test_set_x), y: batch(test_set_y)})
    validate_model = pytensor.function(
        inputs=[index], outputs=classifier.errors(y),
        givens={x: batch(valid_set_x), y: batch(valid_set_y)})

    g_W, g_b = pt.grad(cost=cost, wrt=[classifier.W, classifier.b])
    updates = [(classifier.W, classifier.W - learning_rate * g_W),
               (classifier.b, classifier.b - learning_rate * g_b)]

    # each call takes one SGD step on minibatch `index` and returns its cost
    train_model = pytensor.function(
        inputs=[index], outputs=cost, updates=updates,
        givens={x: batch(train_set_x), y: batch(train_set_y)})
    # end-snippet-functions

    checkpoint = Checkpoint(
        output_folder, variables={"W": classifier.W, "b": classifier.b},
        config=dict(script="logistic_sgd", learning_rate=learning_rate, n_epochs=n_epochs,
                    batch_size=batch_size, floatX=pytensor.config.floatX,
                    **dataset_fingerprint(dataset, datasets)))
    model_path = os.path.join(output_folder, "best_model.npz")

    # start-snippet-training
    print("... training the model")
    # Early stopping: train while the validation error keeps improving.
    patience = 5000                # look at this many minibatches whatever happens
    patience_increase = 2          # after a clear improvement, wait this many times longer
    improvement_threshold = 0.995  # clear: at least 0.5 % below the best error so far
    # check the validation set once per epoch, or more often if patience is short
    validation_frequency = min(n_train_batches, patience // 2)

    # where a new run starts; --resume takes them from the checkpoint instead
    (epoch, patience, best_validation_loss, test_score, done_looping,
     history) = checkpoint.restore(resume, epoch=0, patience=patience,
                                   best_validation_loss=numpy.inf, test_score=0.0,
                                   done_looping=False, history=[])
    first_epoch = epoch
    start_time = timer()
    while epoch < n_epochs and not done_looping:
        epoch = epoch + 1
        for minibatch_index in range(n_train_batches):
            minibatch_avg_cost = train_model(minibatch_index)
            # iterations are minibatches seen, counted from 0 across epochs
            iter = (epoch - 1) * n_train_batches + minibatch_index

            if (iter + 1) % validation_frequency == 0:
                validation_losses = [validate_model(i) for i in range(n_valid_batches)]
                this_validation_loss = numpy.mean(validation_losses, dtype="float64")
                history.append((iter + 1, this_validation_loss))
                print("epoch %i, minibatch %i/%i, validation error %f %%"
                      % (epoch, minibatch_index + 1, n_train_batches,
                         this_validation_loss * 100.0))

                if this_validation_loss < best_validation_loss:
                    # a clear improvement earns more patience
                    if this_validation_loss < best_validation_loss * improvement_threshold:
                        patience = max(patience, iter * patience_increase)
                    best_validation_loss = this_validation_loss
                    # the test set is only ever scored for the best model so far
                    test_losses = [test_model(i) for i in range(n_test_batches)]
                    test_score = numpy.mean(test_losses, dtype="float64")
                    print("     epoch %i, minibatch %i/%i, test error of best model %f %%"
                          % (epoch, minibatch_index + 1, n_train_batches,
                             test_score * 100.0))
                    # as plain arrays, where the original pickled the classifier
                    save_arrays(model_path, W=classifier.W.get_value(),
                                b=classifier.b.get_value())

            if patience <= iter:
                done_looping = True
                break
        checkpoint.save(epoch=epoch, patience=patience,
                        best_validation_loss=best_validation_loss, test_score=test_score,
                        done_looping=done_looping, history=history)
    end_time = timer()
    # end-snippet-training

    print("Optimization complete with best validation score of %f %%,"
          "with test performance %f %%"
          % (best_validation_loss * 100.0, test_score * 100.0))
    # when resuming, only the epochs this process ran count for the speed
    print("The code run for %d epochs, with %f epochs/sec"
          % (epoch, 1.0 * (epoch - first_epoch) / (end_time - start_time)))
    print("The code for file " + os.path.basename(__file__)
          + " ran for %.1fs" % (end_time - start_time), file=sys.stderr)
    plot_validation_history(os.path.join(output_folder, "validation_error.png"),
                            history, n_train_batches, "Logistic regression on MNIST")
    return Result(best_validation_loss=best_validation_loss, test_score=test_score,
                  epochs=epoch)


# start-snippet-predict
def predict(output_folder="logistic_sgd_out", dataset="mnist.pkl.gz"):
    """Load the best model saved by training and label the first ten test images."""
    model_path = os.path.join(output_folder, "best_model.npz")
    if not os.path.exists(model_path):
        raise FileNotFoundError(
            f"{model_path}: no saved model; train first (python code/logistic_sgd.py)")
    # checked on the way in: W and b only, of a classifier's shapes, finite
    W, b = load_arrays(model_path, W=(28 * 28, 10), b=(10,))

    x = pt.matrix("x")
    classifier = LogisticRegression(input=x, n_in=W.shape[0], n_out=W.shape[1])
    classifier.W.set_value(W.astype(pytensor.config.floatX))
    classifier.b.set_value(b.astype(pytensor.config.floatX))
    predict_model = pytensor.function(inputs=[classifier.input], outputs=classifier.y_pred)

    test_set_x, _ = load_data(dataset)[2]
    predicted_values = predict_model(test_set_x.get_value()[:10])
    print("Predicted values for the first 10 examples in test set:")
    print(predicted_values)
    return predicted_values
# end-snippet-predict


def main(argv=None):
    parser = ArgumentParser(
        description="Train logistic regression on MNIST with minibatch SGD and "
                    "early stopping, then label ten test images with the best model.")
    parser.add_argument("--learning-rate", type=positive_float, default=0.13, help="SGD step size")
    parser.add_argument("--n-epochs", type=positive_int, default=1000,
                        help="at most this many epochs")
    parser.add_argument("--batch-size", type=positive_int, default=600,
                        help="examples per minibatch")
    parser.add_argument("--predict", action="store_true",
                        help="skip training: load the saved best model and predict")
    add_common_arguments(parser, output_folder="logistic_sgd_out")
    args = parser.parse_args(argv)
    apply_common_arguments(args)
    install_speedups(enabled=not args.no_speedups)   # faster Numba code, same results

    def run():
        if not args.predict:
            sgd_optimization_mnist(learning_rate=args.learning_rate, n_epochs=args.n_epochs,
                                   dataset=args.dataset, batch_size=args.batch_size,
                                   output_folder=args.output_folder, resume=args.resume)
        predict(output_folder=args.output_folder, dataset=args.dataset)
    run_cli(run)


if __name__ == "__main__":
    main()
