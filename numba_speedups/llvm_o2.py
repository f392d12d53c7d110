"""LLVM at -O2.

Numba asks LLVM for its heaviest optimisation level, -O3, and a first run
spends much of its compiling there. At -O2 every script compiles faster and
every training step runs as fast as before (without fast-math LLVM may not
reorder floating-point sums at either level, so the numbers are the same).
We set Numba's own setting, not the NUMBA_OPT environment variable, so that
child processes see no change; a NUMBA_OPT the user set is left alone.

Measured (docs/performance.md, "First compile", AMD EPYC): each script's
first compile 15 to 20 % shorter, the same step times.
"""
import os

from numba.core import config


def install(patches):
    if "NUMBA_OPT" in os.environ:
        return
    # Numba reads its settings again from the environment before each
    # compile, but only when a NUMBA_ variable changed: this one stays
    patches.setattr(config, "OPT", type(config.OPT)(2))
