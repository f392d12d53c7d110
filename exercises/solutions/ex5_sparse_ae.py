"""Reference solution of exercise 5."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir))
import exercises  # noqa: E402,F401

import pytensor.tensor as pt  # noqa: E402

import dA as dA_module  # noqa: E402


class SparseAE(dA_module.dA):

    def kl_sparsity(self, hidden, rho):
        rho_hat = pt.mean(hidden, axis=0)
        return pt.sum(rho * pt.log(rho / rho_hat)
                      + (1 - rho) * pt.log((1 - rho) / (1 - rho_hat)))

    def get_cost_updates(self, corruption_level, learning_rate, rho=0.05, beta=3.0,
                         weight_decay=1e-4):
        y = self.get_hidden_values(self.get_corrupted_input(self.x, corruption_level))
        z = self.get_reconstructed_input(y)
        reconstruction = pt.mean(
            -pt.sum(self.x * pt.log(z) + (1 - self.x) * pt.log(1 - z), axis=1))
        cost = (reconstruction + beta * self.kl_sparsity(y, rho)
                + weight_decay / 2 * pt.sum(self.W ** 2))
        updates = [(p, p - learning_rate * g)
                   for p, g in zip(self.params, pt.grad(cost, self.params))]
        return cost, updates + [self.rng_update]
