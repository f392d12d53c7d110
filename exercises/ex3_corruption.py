"""Exercise 3: corrupting the input of a denoising autoencoder.

Write get_corrupted_input (chapter: Denoising autoencoders). Run this file to
see a few corrupted digits (corrupted.png); ``python -m exercises check 3``
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

    def get_corrupted_input(self, input, corruption_level):
        """Return input with each entry set to zero with probability
        corruption_level, and kept unchanged otherwise.

        Draw the mask from self.pytensor_rng (its .binomial method returns
        the generator's next state and the draw), store
        (self.pytensor_rng, next_state) in self.rng_update so the training
        function can advance the generator, and remember that the draw is
        int64 while input is floatX (pt.cast, pytensor.config.floatX).
        """
        return todo("Exercise 3: get_corrupted_input")


if __name__ == "__main__":
    from exercises.demos import show_corruption
    show_corruption(dA)
