"""Reference solution of exercise 2."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir))
import exercises  # noqa: E402,F401

import mlp  # noqa: E402


class MLP(mlp.MLP):

    def __init__(self, rng, input, n_in, n_hidden, n_out):
        super().__init__(rng, input, n_in, n_hidden, n_out)
        W1, W2 = self.hiddenLayer.W, self.logRegressionLayer.W
        self.L1 = abs(W1).sum() + abs(W2).sum()
        self.L2_sqr = (W1 ** 2).sum() + (W2 ** 2).sum()


def regularised_cost(classifier, y, L1_reg, L2_reg):
    return (classifier.negative_log_likelihood(y)
            + L1_reg * classifier.L1 + L2_reg * classifier.L2_sqr)
