"""Reference solution of exercise 4."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir))
import exercises  # noqa: E402,F401

import pytensor.tensor as pt  # noqa: E402

import dA as dA_module  # noqa: E402


class dA(dA_module.dA):

    def get_cost_updates(self, corruption_level, learning_rate):
        z = self.get_reconstructed_input(
            self.get_hidden_values(self.get_corrupted_input(self.x, corruption_level)))
        cost = pt.mean(-pt.sum(self.x * pt.log(z) + (1 - self.x) * pt.log(1 - z), axis=1))
        updates = [(p, p - learning_rate * g)
                   for p, g in zip(self.params, pt.grad(cost, self.params))]
        return cost, updates + [self.rng_update]
