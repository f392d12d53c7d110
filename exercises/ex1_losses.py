"""Exercise 1: the two losses of logistic regression.

Write ``negative_log_likelihood`` and ``errors`` below (chapter: Classifying
digits with logistic regression). The rest of the model comes from
code/logistic_sgd.py. Run this file to train on a slice of MNIST with your
losses; run ``python -m exercises check 1`` to have them checked.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from exercises import todo  # noqa: E402  (also puts code/ on the path)

import pytensor.tensor as pt  # noqa: E402

import logistic_sgd  # noqa: E402


class LogisticRegression(logistic_sgd.LogisticRegression):

    def negative_log_likelihood(self, y):
        """The mean over the minibatch of -log P(Y = y_i | x_i).

        self.p_y_given_x is a symbolic matrix, one row of 10 class
        probabilities per example; y is a symbolic vector of int32 labels.
        Hint: pt.log, pt.arange, pt.mean, and indexing a matrix with two
        vectors, M[rows, cols].
        """
        return todo("Exercise 1a: negative_log_likelihood")

    def errors(self, y):
        """The fraction of the minibatch that is misclassified.

        Compare self.y_pred with y (pt.neq, pt.mean). Raise TypeError if y
        does not have the same number of dimensions as self.y_pred, and
        NotImplementedError if y does not hold integers (y.dtype).
        """
        return todo("Exercise 1b: errors")


if __name__ == "__main__":
    from exercises.demos import train_logistic
    train_logistic(LogisticRegression)
