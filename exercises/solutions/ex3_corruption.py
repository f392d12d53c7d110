"""Reference solution of exercise 3."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir))
import exercises  # noqa: E402,F401

import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402

import dA as dA_module  # noqa: E402


class dA(dA_module.dA):

    def get_corrupted_input(self, input, corruption_level):
        next_rng, mask = self.pytensor_rng.binomial(n=1, p=1 - corruption_level,
                                                    size=input.shape)
        self.rng_update = (self.pytensor_rng, next_rng)
        return pt.cast(mask, pytensor.config.floatX) * input
