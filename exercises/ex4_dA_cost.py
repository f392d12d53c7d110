"""Exercise 4: the cost of a denoising autoencoder and its SGD updates.

Write get_cost_updates (chapter: Denoising autoencoders). Run this file to
train a dA for an epoch on a slice of MNIST; ``python -m exercises check 4``
checks your code.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from exercises import todo  # noqa: E402

import pytensor  # noqa: E402,F401
import pytensor.tensor as pt  # noqa: E402,F401

import dA as dA_module  # noqa: E402


class dA(dA_module.dA):

    def get_cost_updates(self, corruption_level, learning_rate):
        """Return (cost, updates) for one minibatch self.x.

        1. corrupt self.x (self.get_corrupted_input), encode the result
           (self.get_hidden_values) and decode the code
           (self.get_reconstructed_input);
        2. the cost is the mean over the minibatch of the cross-entropy
           between the *clean* input and the reconstruction, summed over the
           pixels of each example;
        3. updates: one (param, param - learning_rate * gradient) pair per
           parameter in self.params (pt.grad), plus self.rng_update, which
           get_corrupted_input left behind, so the masks change every call.
        """
        return todo("Exercise 4: get_cost_updates")


if __name__ == "__main__":
    from exercises.demos import train_dA
    train_dA(dA)
