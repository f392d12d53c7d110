"""Exercise 5: a sparse autoencoder.

A sparse autoencoder asks each hidden unit to be active only rarely: its mean
activation over the data, rho_hat_j, should be close to a small target rho.
The penalty is the Kullback-Leibler divergence between two Bernoulli
distributions, summed over the hidden units,

    KL(rho || rho_hat_j) = rho log(rho / rho_hat_j)
                           + (1 - rho) log((1 - rho) / (1 - rho_hat_j)),

and the cost of a minibatch is

    reconstruction cross-entropy (as in the dA)
    + beta * sum_j KL(rho || rho_hat_j)
    + (weight_decay / 2) * sum(W ** 2).

Write kl_sparsity and get_cost_updates below. Run this file to train it on
MNIST and compare its filters and mean activation with a plain dA's
(sparse_filters.png, dA_filters.png); ``python -m exercises check 5`` checks
your code.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from exercises import todo  # noqa: E402

import pytensor  # noqa: E402,F401
import pytensor.tensor as pt  # noqa: E402,F401

import dA as dA_module  # noqa: E402


class SparseAE(dA_module.dA):

    def kl_sparsity(self, hidden, rho):
        """Sum over the hidden units of KL(rho || rho_hat_j), where rho_hat_j
        is the mean of column j of ``hidden`` (one row per example)."""
        return todo("Exercise 5a: kl_sparsity")

    def get_cost_updates(self, corruption_level, learning_rate, rho=0.05, beta=3.0,
                         weight_decay=1e-4):
        """Return (cost, updates) like dA.get_cost_updates, with the cost
        above. Compute the sparsity penalty on the hidden code of the
        (possibly corrupted) input. Keep self.rng_update in the updates."""
        return todo("Exercise 5b: get_cost_updates")


if __name__ == "__main__":
    from exercises.demos import compare_sparse
    compare_sparse(SparseAE)
