"""Exercise 2: L1 and L2 regularisation of the multilayer perceptron.

Fill in the two penalty terms of MLP and the cost that uses them (chapters:
Getting started, The multilayer perceptron). Run this file to train a small
MLP with your cost; ``python -m exercises check 2`` checks it.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from exercises import todo  # noqa: E402

import pytensor.tensor as pt  # noqa: E402,F401

import mlp  # noqa: E402


class MLP(mlp.MLP):

    def __init__(self, rng, input, n_in, n_hidden, n_out):
        super().__init__(rng, input, n_in, n_hidden, n_out)
        # The weights of the two layers are self.hiddenLayer.W and
        # self.logRegressionLayer.W; the biases are .b of each.
        # Exercise 2a: the sum of the absolute values of all the weights.
        self.L1 = todo("Exercise 2a: L1")
        # Exercise 2b: the sum of the squares of all the weights.
        self.L2_sqr = todo("Exercise 2b: L2_sqr")


def regularised_cost(classifier, y, L1_reg, L2_reg):
    """Exercise 2c: the negative log-likelihood of y plus L1_reg times the L1
    penalty plus L2_reg times the squared L2 penalty."""
    return todo("Exercise 2c: regularised_cost")


if __name__ == "__main__":
    from exercises.demos import train_mlp
    train_mlp(MLP, regularised_cost)
