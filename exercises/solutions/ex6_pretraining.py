"""Reference solution of exercise 6."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir))
import exercises  # noqa: E402,F401

import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402

import SdA as SdA_module  # noqa: E402


class SdA(SdA_module.SdA):

    def pretraining_functions(self, train_set_x, batch_size):
        index, corruption, lr = pt.lscalar("index"), pt.scalar("corruption"), pt.scalar("lr")
        fns = []
        for da in self.dA_layers:
            cost, updates = da.get_cost_updates(corruption, lr)
            step = pytensor.function(
                [index, corruption, lr], cost, updates=updates,
                givens={self.x: train_set_x[index * batch_size:(index + 1) * batch_size]})

            def fn(index, corruption=0.2, lr=0.1, step=step):
                return step(index, corruption, lr)
            fns.append(fn)
        return fns
