"""Exercise 6: the layer-wise pre-training functions of the SdA.

Write pretraining_functions (chapter: Stacked denoising autoencoders). Run
this file to pre-train a small SdA on a slice of MNIST with your functions;
``python -m exercises check 6`` checks your code.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from exercises import todo  # noqa: E402

import pytensor  # noqa: E402,F401
import pytensor.tensor as pt  # noqa: E402,F401

import SdA as SdA_module  # noqa: E402


class SdA(SdA_module.SdA):

    def pretraining_functions(self, train_set_x, batch_size):
        """Return a list with one function per layer (self.dA_layers).

        Function k takes a minibatch index and, optionally, ``corruption``
        (default 0.2) and ``lr`` (default 0.1); it takes one SGD step on the
        dA of layer k on images train_set_x[index * batch_size:
        (index + 1) * batch_size] and returns that step's cost.

        Hints: dA.get_cost_updates(corruption, lr) gives the cost and the
        updates; pytensor.function's givens replaces self.x by the minibatch;
        corruption and lr can be symbolic scalars (pt.scalar) passed as
        inputs, and a small Python function can give them defaults.
        """
        return todo("Exercise 6: pretraining_functions")


if __name__ == "__main__":
    from exercises.demos import pretrain_sda
    pretrain_sda(SdA)
