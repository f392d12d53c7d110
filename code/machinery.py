"""Not part of the lessons: the machinery around them.

Checkpoints and --resume, Ctrl-C and SIGTERM, the command line, timers and
the one-line error messages. The tutorials would train the same without any
of it; it is here so that a long run survives an interruption and a wrong
flag gets a clear answer. The lessons themselves are the other scripts in
this folder, and utils.py holds what they share (MNIST, pictures).

What the port prints beyond the original's lines (epoch times, checkpoint
notes) goes to stderr, so that stdout holds the original's lines only;
--quiet silences it.
"""
import argparse
import json
import math
import os
import signal
import sys
import tempfile
import timeit
from typing import NamedTuple

import numpy

import pytensor

timer = timeit.default_timer

QUIET = False     # --quiet: no notes on stderr


def note(message):
    """A line beyond the original's output: on stderr, unless --quiet."""
    if not QUIET:
        print(message, file=sys.stderr, flush=True)


class Result(NamedTuple):
    """What every training function returns (fields it does not have are None)."""
    best_validation_loss: float = None   # best validation error (a fraction)
    best_iter: int = None                # iteration it was reached at, counted from 1
    test_score: float = None             # test error of that model
    epochs: int = None                   # epochs run (fine-tuning epochs for the SdA)
    costs: object = None                 # autoencoders: the mean cost of each epoch


class CheckpointError(Exception):
    """A checkpoint that cannot be resumed (missing, damaged, another run's)."""


class TrainingDiverged(Exception):
    """The parameters stopped being finite numbers."""


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------

def write_atomically(path, write):
    """Call write(file) on a new file beside path, then rename it to path.

    The new file is made by mkstemp (never through an existing name or a
    planted link), flushed and synced before the rename, and removed if
    anything fails; a kill at any moment leaves the old file or the new one.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_arrays(path, **arrays):
    """A plain .npz of finite arrays (a saved model), written atomically."""
    for name, value in arrays.items():
        if not numpy.all(numpy.isfinite(value)):
            raise TrainingDiverged(
                f"not saving {path}: {name} holds NaN or infinite values; training "
                "diverged, the learning rate is probably too large")
    return write_atomically(path, lambda f: numpy.savez(f, **arrays))


def save_picture(path, image):
    """A PIL image as a PNG file, written atomically."""
    return write_atomically(path, lambda f: image.save(f, format="PNG"))


def _is_generator(var):
    return (hasattr(var, "get_value")
            and isinstance(var.get_value(borrow=True), numpy.random.Generator))


class Checkpoint(object):
    """One run's parameters, random generators and loop variables in one .npz.

    config: the settings that define the run; a checkpoint written with
        other settings is refused, naming the difference.
    variables: name -> shared variable (parameters, random generators) or
        numpy RandomState, saved and restored by value.
    The loop's own variables (epoch, patience, best score...) go through
    restore() before the loop and save() at the end of each epoch. No
    pickled object goes in or comes out (allow_pickle=False).
    """

    def __init__(self, folder, config, variables, name="checkpoint.npz"):
        self.path = os.path.join(folder, name)
        self.config = json.loads(json.dumps(config))   # as it will read back
        self.variables = variables
        self.state = {}
        self.restored = False
        self.last_save = timer()

    def restore(self, resume, missing_ok=False, **start):
        """The loop's variables, in the order given: their start values for
        a new run; with resume, what the checkpoint holds (and the
        parameters and generators as they were when it was saved)."""
        # the file is read once; a later restore (the SdA's fine-tuning, after
        # its pre-training) reads what this run has saved since
        if resume and not self.restored:
            if os.path.exists(self.path):
                self._load(start)
                note(f"... resuming from {self.path}")
            elif not missing_ok:
                raise CheckpointError(f"{self.path}: no checkpoint to resume from")
        self.restored = True
        self.last_save = timer()
        values = tuple(self.state.get(name, value) for name, value in start.items())
        return values if len(values) > 1 else values[0]

    def save(self, **state):
        """Write the parameters, generators and the given loop variables."""
        payload = {}
        for name, var in self.variables.items():
            if isinstance(var, numpy.random.RandomState):
                kind, key, pos, has_gauss, gauss = var.get_state()
                payload["rng/" + name] = numpy.array(json.dumps(
                    {"pos": pos, "has_gauss": has_gauss, "gauss": gauss}))
                payload["rngkey/" + name] = key
            elif _is_generator(var):
                payload["rng/" + name] = numpy.array(
                    json.dumps(var.get_value().bit_generator.state))
            else:
                value = var.get_value()
                if not numpy.all(numpy.isfinite(value)):
                    where = (f"the checkpoint of the last good epoch is kept in {self.path}"
                             if os.path.exists(self.path) else "no checkpoint was saved")
                    raise TrainingDiverged(
                        f"the parameter {name} holds NaN or infinite values at the end of "
                        f"this epoch: training diverged, the learning rate is probably too "
                        f"large ({where})")
                payload["var/" + name] = value
        self.state.update(json.loads(json.dumps(state, default=lambda o: o.item())))
        payload["config"] = numpy.array(json.dumps(self.config, sort_keys=True))
        payload["state"] = numpy.array(json.dumps(self.state))
        # a Ctrl-C or SIGTERM during the write waits until the file is whole
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            write_atomically(self.path, lambda f: numpy.savez(f, **payload))
            _saved.append(self.path)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        now = timer()
        note(f"  ({now - self.last_save:.2f}s since the last checkpoint; saved {self.path})")
        self.last_save = now

    def _load(self, start):
        try:
            with numpy.load(self.path, allow_pickle=False) as data:
                saved_config = json.loads(str(data["config"]))
                if saved_config != self.config:
                    diff = sorted(k for k in set(saved_config) | set(self.config)
                                  if saved_config.get(k) != self.config.get(k))
                    raise CheckpointError(
                        f"{self.path} was written by another configuration ("
                        + ", ".join(f"{k}: saved {saved_config.get(k)!r}, now "
                                    f"{self.config.get(k)!r}" for k in diff)
                        + "); use another --output-folder or start without --resume")
                values = {key: data[key] for key in data.files}
            state = json.loads(str(values["state"]))
            for name, value in start.items():
                if name in state and type(state[name]) is not type(value) and not (
                        isinstance(value, float) and type(state[name]) is int):
                    raise CheckpointError(f"{self.path}: {name} should be a "
                                          f"{type(value).__name__}, found {state[name]!r}")
            for name, var in self.variables.items():
                if isinstance(var, numpy.random.RandomState):
                    meta = json.loads(str(values["rng/" + name]))
                    var.set_state(("MT19937", values["rngkey/" + name], meta["pos"],
                                   meta["has_gauss"], meta["gauss"]))
                elif _is_generator(var):
                    generator = var.get_value()
                    generator.bit_generator.state = json.loads(str(values["rng/" + name]))
                    var.set_value(generator, borrow=True)
                else:
                    value = values["var/" + name]
                    expected = var.get_value(borrow=True).shape
                    if value.shape != expected:
                        raise CheckpointError(f"{self.path}: {name} has shape {value.shape}, "
                                              f"expected {expected}")
                    var.set_value(value.astype(var.dtype))
        except CheckpointError:
            raise
        except Exception as e:
            raise CheckpointError(f"{self.path}: unreadable checkpoint "
                                  f"({type(e).__name__}: {e})") from None
        self.state = state


_saved = []   # the checkpoints this process wrote, newest last


def dataset_fingerprint(dataset, datasets):
    """What identifies the data for a checkpoint: its name and split sizes."""
    name = "bundled" if dataset in (None, "mnist.pkl.gz") and not (
        dataset and os.path.exists(dataset)) else os.path.abspath(dataset)
    return {"dataset": name,
            "sizes": [int(x.get_value(borrow=True).shape[0]) for x, _ in datasets]}


# ---------------------------------------------------------------------------
# Running a script: stop signals and one-line errors
# ---------------------------------------------------------------------------

def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def run_cli(train):
    """Run a script's training; Ctrl-C or SIGTERM stop it at once (the
    checkpoint of the last finished epoch stays), and the expected failures
    end in one line on stderr."""
    from utils import DatasetError
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        train()
    except KeyboardInterrupt:
        if _saved:
            print(f"interrupted: the checkpoint of the last finished epoch is in "
                  f"{_saved[-1]}; run again with --resume to continue", file=sys.stderr)
        else:
            print("interrupted before the first checkpoint: nothing to resume",
                  file=sys.stderr)
        raise SystemExit(130)
    except (DatasetError, CheckpointError, TrainingDiverged, ValueError,
            FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1)


def install_speedups(enabled=True):
    """The plug-in of numba_speedups/ (see its docstring); False when not installed."""
    try:
        import numba_speedups
    except ImportError:
        if enabled:
            print("warning: numba_speedups not found (pip install -e . installs it); "
                  "running on stock PyTensor", file=sys.stderr)
        return False
    return numba_speedups.install(enabled)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad value gets one line on stderr, not the whole usage,
    and --help shows every flag's default."""

    def __init__(self, **kwargs):
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(**kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number(text, kind):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def positive_float(text):
    value = _number(text, float)
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def positive_int(text):
    value = _number(text, int)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text):
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text}")
    return value


def non_negative_float(text):
    value = _number(text, float)
    if not value >= 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text}")
    return value


def add_common_arguments(parser, output_folder, resume=True):
    parser.add_argument("--dataset", default="mnist.pkl.gz",
                        help="MNIST to use: a classic mnist.pkl.gz, a folder of IDX files, "
                             "or the default name for the bundled copy in data/mnist")
    parser.add_argument("--output-folder", default=output_folder,
                        help="where the outputs go")
    parser.add_argument("--mode", default=None,
                        help="PyTensor compilation mode, e.g. FAST_RUN (Numba), NUMBA, C, "
                             "FAST_COMPILE, JAX; None is PyTensor's own default")
    parser.add_argument("--floatX", default="float32", choices=["float32", "float64"],
                        help="PyTensor's float type for data and parameters "
                             "(float32 as the published runs)")
    if resume:
        parser.add_argument("--resume", action="store_true",
                            help="continue from the checkpoint in the output folder "
                                 "(one is saved after every epoch)")
    parser.add_argument("--no-speedups", action="store_true",
                        help="run on stock PyTensor, without numba_speedups/ "
                             "(as DLT_SPEEDUPS=0 does)")
    parser.add_argument("--quiet", action="store_true",
                        help="print only the original tutorial's lines (no epoch times "
                             "or checkpoint notes on stderr)")


def apply_common_arguments(args):
    """Set PyTensor's config from the flags, before any graph is built."""
    global QUIET
    QUIET = args.quiet
    pytensor.config.floatX = args.floatX
    if args.mode is not None:
        try:
            pytensor.compile.mode.get_mode(args.mode)
        except Exception:
            raise SystemExit(f"error: unknown PyTensor mode {args.mode!r}")
        pytensor.config.mode = args.mode


def check_batch_size(batch_size, n_examples, what="training"):
    if batch_size > n_examples:
        raise ValueError(
            f"batch_size={batch_size} is larger than the {n_examples} {what} examples")


def report_time(script, seconds, what="The code"):
    """The closing timing line, on stderr like the original's."""
    print(f"{what} for file {os.path.basename(script)} ran for {seconds / 60.0:.2f}m",
          file=sys.stderr)
