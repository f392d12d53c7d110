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
import datetime
import fcntl
import glob
import importlib.util
import json
import math
import os
import signal
import stat
import sys
import tempfile
import timeit
import warnings
import zipfile
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


class OutputError(Exception):
    """The output folder or a file in it cannot be written."""


# the loop variables a checkpoint may hold: a run never gets near these
MAX_COUNT = 2 ** 40          # epochs, iterations, patience
MAX_LIST_ITEMS = 10 ** 7     # numbers in all the lists (costs, history)
MAX_TEXT_BYTES = 256 << 20   # a checkpoint's JSON members


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------

_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomically(path, write):
    """Call write(file) on a new file beside path, then rename it to path.

    The new file is made by mkstemp (never through an existing name or a
    planted link), flushed and synced before the rename, and removed if
    anything fails; a kill at any moment leaves the old file or the new one.
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                                   suffix=".tmp")
    except OSError as e:
        raise OutputError(f"{path}: cannot write it ({e.strerror})") from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)   # mkstemp's 0600 is for the name, not the file
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise OutputError(f"{path}: cannot write it ({e.strerror or e})") from None
        raise
    return path


def save_arrays(path, **arrays):
    """A plain .npz of finite arrays (a saved model), written atomically."""
    for name, value in arrays.items():
        if not numpy.all(numpy.isfinite(value)):
            raise TrainingDiverged(
                f"not saving {path}: {name} holds NaN or infinite values; training "
                "diverged, the learning rate is probably too large: start afresh with a "
                "smaller one (and --restart)")
    return write_atomically(path, lambda f: numpy.savez(f, **arrays))


def load_arrays(path, **shapes):
    """The arrays of a .npz written by save_arrays, in the order of shapes
    (name -> expected shape): exactly those members, floats, finite."""
    values = read_npz(path, {name: 8 * math.prod(shape) + 1024 for name, shape in shapes.items()},
                      what="saved model")
    for name, shape in shapes.items():
        value = values[name]
        if value.shape != tuple(shape) or value.dtype.kind != "f":
            raise CheckpointError(f"{path}: {name} is {value.dtype} of shape {value.shape}, "
                                  f"expected floats of shape {tuple(shape)}")
        if not numpy.all(numpy.isfinite(value)):
            raise CheckpointError(f"{path}: {name} holds NaN or infinite values; this model "
                                  "was saved from a diverged run: train again")
    return [values[name] for name in shapes]


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
                    where = (f"{self.path} still holds the last finite epoch"
                             if os.path.exists(self.path) else "no checkpoint was saved")
                    raise TrainingDiverged(
                        f"training diverged: after this epoch the parameter {name} holds NaN "
                        f"or infinite values ({where}); the learning rate is probably too "
                        "large: start afresh with a smaller one (and --restart)")
                payload["var/" + name] = value
        self.state.update(json.loads(json.dumps(state, default=lambda o: o.item())))
        payload["config"] = numpy.array(json.dumps(self.config, sort_keys=True))
        payload["state"] = numpy.array(json.dumps(self.state))
        self._write(payload)
        now = timer()
        note(f"  ({now - self.last_save:.2f}s since the last checkpoint; saved {self.path})")
        self.last_save = now

    def _write(self, payload):
        # a Ctrl-C or SIGTERM during the write waits until the file is whole
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            write_atomically(self.path, lambda f: numpy.savez(f, **payload))
            self._payload = payload
            if self not in _saved:
                _saved.append(self)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def finish(self):
        """Mark the checkpoint as the end of a finished run (run_cli does,
        after the training returned), so that a new run may replace it."""
        payload = dict(self._payload)
        payload["state"] = numpy.array(json.dumps(dict(self.state, finished=True)))
        self._write(payload)

    def _load(self, start):
        expected = {"config": MAX_TEXT_BYTES, "state": MAX_TEXT_BYTES}
        for name, var in self.variables.items():
            if isinstance(var, numpy.random.RandomState):
                expected["rng/" + name] = 1 << 16
                expected["rngkey/" + name] = 624 * 4 + 1024
            elif _is_generator(var):
                expected["rng/" + name] = 1 << 16
            else:
                value = var.get_value(borrow=True)
                expected["var/" + name] = value.size * 8 + 1024
        # the settings first: another run's checkpoint is named as such
        head = read_npz(self.path, expected, what="checkpoint", only=("config", "state"))
        try:
            saved_config = json.loads(str(head["config"]))
            state = json.loads(str(head["state"]))
        except (ValueError, TypeError) as e:
            raise CheckpointError(f"{self.path}: damaged checkpoint ({e})") from None
        if saved_config != self.config:
            diff = sorted(k for k in set(saved_config) | set(self.config)
                          if not isinstance(saved_config, dict)
                          or saved_config.get(k) != self.config.get(k))
            raise CheckpointError(
                f"{self.path} was written by another configuration ("
                + ", ".join(f"{k}: saved {saved_config.get(k)!r}, now "
                            f"{self.config.get(k)!r}" for k in diff)
                + "); use another --output-folder, or --restart to start afresh")
        if not isinstance(state, dict):
            raise CheckpointError(f"{self.path}: damaged checkpoint (its state is not a record)")
        values = read_npz(self.path, expected, what="checkpoint")
        for name, value in start.items():
            if name not in state:
                raise CheckpointError(f"{self.path}: damaged checkpoint ({name} is missing)")
            problem = _state_problem(state[name], value)
            if problem:
                raise CheckpointError(f"{self.path}: damaged checkpoint ({name} {problem})")
        try:
            for name, var in self.variables.items():
                if isinstance(var, numpy.random.RandomState):
                    meta = json.loads(str(values["rng/" + name]))
                    var.set_state(("MT19937", values["rngkey/" + name], meta["pos"],
                                   meta["has_gauss"], meta["gauss"]))
                elif _is_generator(var):
                    generator = var.get_value()
                    generator.bit_generator.state = json.loads(str(values["rng/" + name]))
                    var.set_value(generator, borrow=True)
        except Exception as e:
            raise CheckpointError(f"{self.path}: damaged checkpoint (the random generator "
                                  f"{name}: {type(e).__name__}: {e})") from None
        for name, var in self.variables.items():
            if "var/" + name in values:
                value = values["var/" + name]
                current = var.get_value(borrow=True)
                if value.shape != current.shape or value.dtype.kind != "f":
                    raise CheckpointError(
                        f"{self.path}: damaged checkpoint ({name} is {value.dtype} of shape "
                        f"{value.shape}, expected floats of shape {current.shape})")
                if not numpy.all(numpy.isfinite(value)):
                    raise CheckpointError(
                        f"{self.path}: {name} holds NaN or infinite values; this checkpoint "
                        "cannot be resumed: start afresh with --restart")
                var.set_value(value.astype(var.dtype))
        self.state = state


def _state_problem(value, start):
    """Why a loop variable read back from a checkpoint cannot be what the
    loop started with (a start value's type and range), or None."""
    if isinstance(start, bool):
        return None if isinstance(value, bool) else f"should be true or false, found {value!r}"
    if isinstance(start, int):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
            return f"should be a count from 0 to {MAX_COUNT}, found {value!r}"
        return None
    if isinstance(start, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            return f"should be a number, 0 or more, found {value!r}"
        return None
    if isinstance(start, list):
        if not isinstance(value, list):
            return f"should be a list, found {value!r:.60}"
        count = [0]

        def numbers_only(items):
            for item in items:
                if isinstance(item, list):
                    if not numbers_only(item):
                        return False
                elif isinstance(item, bool) or not isinstance(item, (int, float)) \
                        or not math.isfinite(item) or item < 0:
                    return False
                count[0] += 1
            return count[0] <= MAX_LIST_ITEMS
        if len(start) and len(value) != len(start):
            return f"should have {len(start)} entries, found {len(value)}"
        if not numbers_only(value):
            return "should hold finite numbers, 0 or more"
        return None
    return None


def open_regular(path, what):
    """A regular file, opened for reading: no folder, device, FIFO or link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such {what}") from None
    except OSError as e:
        kind = "a link" if os.path.islink(path) else None
        raise CheckpointError(f"{path}: cannot read this {what} "
                              f"({kind or e.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CheckpointError(f"{path}: not a regular file; expected a {what}")
    return os.fdopen(fd, "rb")


def read_npz(path, expected, what, only=None):
    """The members of a .npz (or those named in only), after checking that it
    holds exactly the members named in expected (name -> most bytes it may
    unpack to), none of them pickled; any problem is a CheckpointError
    naming the file."""
    with open_regular(path, what) as f:
        try:
            with zipfile.ZipFile(f) as archive:
                infos = {info.filename[:-4] if info.filename.endswith(".npy") else
                         info.filename: info for info in archive.infolist()}
                wanted = set(expected) if only is None else set(only)
                missing = sorted(wanted - set(infos))
                extra = sorted(set(infos) - set(expected)) if only is None else []
                if missing or extra:
                    raise CheckpointError(
                        f"{path}: not this model's {what} ("
                        + "; ".join(part for part in (
                            missing and "missing " + ", ".join(missing[:5]),
                            extra and "unexpected " + ", ".join(extra[:5])) if part) + ")")
                if only is not None:
                    infos = {name: infos[name] for name in only}
                for name, info in infos.items():
                    if info.file_size > expected[name]:
                        raise CheckpointError(
                            f"{path}: {name} would unpack to {info.file_size} bytes, more "
                            f"than this model's {what} can hold")
                values = {}
                for name, info in infos.items():
                    with archive.open(info) as member:
                        values[name] = numpy.lib.format.read_array(
                            member, allow_pickle=False)
        except CheckpointError:
            raise
        except Exception as e:   # a cut or garbled archive fails in many ways
            raise CheckpointError(f"{path}: damaged {what} ({type(e).__name__}: {e})") from None
    return values


_saved = []   # the Checkpoints this process wrote, newest last


def dataset_fingerprint(dataset, datasets):
    """What identifies the data for a checkpoint: its name and split sizes."""
    from utils import is_bundled
    name = "bundled" if is_bundled(dataset) else os.path.abspath(dataset)
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
    # this run's checkpoints only: a training function called before in the
    # same process (a test, a notebook) left its own, maybe relative to
    # another working directory
    del _saved[:]
    try:
        try:
            train()
        except SystemError as e:
            # Ctrl-C inside a call into compiled code that calls back into
            # Python (its first call, unpickling its constants) comes out of
            # Numba as a SystemError caused by the KeyboardInterrupt
            if not _caused_by_interrupt(e):
                raise
            raise KeyboardInterrupt from None
        for checkpoint in _saved:
            checkpoint.finish()
    except KeyboardInterrupt:
        if _saved:
            print(f"interrupted: the checkpoint of the last finished epoch is in "
                  f"{_saved[-1].path}; run again with --resume to continue", file=sys.stderr)
        else:
            print("interrupted before the first checkpoint: nothing to resume",
                  file=sys.stderr)
        raise SystemExit(130)
    except (DatasetError, CheckpointError, TrainingDiverged, OutputError, ValueError,
            FileNotFoundError) as e:
        fail(e)
    except MemoryError:
        fail("out of memory: the model or the data does not fit; try smaller layers "
             "(--n-hidden, --hidden-layers-sizes) or a smaller --batch-size")
    except OSError as e:
        fail(f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}")


def _caused_by_interrupt(error):
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def fail(message):
    """One line on stderr, and exit 1."""
    print(f"error: {message}", file=sys.stderr)
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
    parser.add_argument("--dataset", default=None,
                        help="MNIST to use: a classic mnist.pkl.gz or a folder of IDX files; "
                             "None is the bundled copy in data/mnist")
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
        parser.add_argument("--restart", action="store_true",
                            help="start afresh in an output folder that holds an unfinished "
                                 "run's checkpoint (it is kept, under another name)")
    parser.add_argument("--no-speedups", action="store_true",
                        help="run on stock PyTensor, without numba_speedups/ "
                             "(as DLT_SPEEDUPS=0 does)")
    parser.add_argument("--quiet", action="store_true",
                        help="print only the original tutorial's lines (no epoch times "
                             "or checkpoint notes on stderr)")


def apply_common_arguments(args):
    """Set PyTensor's config from the flags and check, before any data is
    loaded or anything compiled, what can be checked: the mode, the dataset
    flag, the output folder (made, writable, not in use by another run) and
    what is in it (something to --resume; no unfinished run lost)."""
    global QUIET
    QUIET = args.quiet
    pytensor.config.floatX = args.floatX
    if args.mode is not None:
        check_mode(args.mode)
    if args.dataset is not None and not args.dataset.strip():
        fail("--dataset is empty: name a file or folder, or leave the flag out for "
             "the bundled MNIST")
    claim_output_folder(args.output_folder)
    if hasattr(args, "resume") and not getattr(args, "predict", False):
        check_checkpoints(args.output_folder, args.resume, args.restart)


def check_mode(mode):
    try:
        pytensor.compile.mode.get_mode(mode)
        pytensor.config.mode = mode
    except Exception:
        fail(f"unknown PyTensor mode {mode!r} (modes are upper case: FAST_RUN, NUMBA, "
             "C, FAST_COMPILE, JAX, PYTORCH)")
    needs = {"JAX": ("jax", "pip install jax jaxlib"), "PYTORCH": ("torch", "pip install torch")}
    if mode in needs and importlib.util.find_spec(needs[mode][0]) is None:
        fail(f"--mode {mode} needs the {needs[mode][0]} package, which is not installed "
             f"({needs[mode][1]})")
    with warnings.catch_warnings():   # PyTensor warns at length while it looks
        warnings.simplefilter("ignore")
        blas = pytensor.config.blas__ldflags
    if mode in ("C", "CVM") and not blas:
        fail(f"--mode {mode} needs a BLAS library to link against and PyTensor found none "
             "(install one, e.g. Debian's libopenblas-dev, and set blas__ldflags); "
             "the default mode needs none")


_lock = None   # the output folder's lock, held until the process ends


def claim_output_folder(folder):
    """Make the folder, check that it is writable, and lock it for this run:
    a second run in the same folder stops at once, naming the first one."""
    global _lock
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
        fd = os.open(os.path.join(folder, ".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW,
                     0o644)
    except OSError as e:
        fail(f"{folder}: cannot write there ({e.strerror or e})")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        fail(f"{folder} is in use by another run (process {other}); wait for it to end "
             "or use another --output-folder")
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _lock = fd


def check_checkpoints(folder, resume, restart):
    """--resume needs a checkpoint; a new run must not silently replace one
    of an unfinished run (--restart keeps it aside, under another name)."""
    found = sorted(p for p in glob.glob(os.path.join(glob.escape(folder), "checkpoint*.npz"))
                   if ".kept-" not in p)
    if resume and restart:
        fail("--resume and --restart contradict each other: choose one")
    if resume:
        if not found:
            fail(f"{os.path.join(folder, 'checkpoint.npz')}: no checkpoint to resume from")
        return
    unfinished = [path for path in found if not _finished(path)]
    if unfinished and not restart:
        fail(f"{unfinished[0]} holds an unfinished run: continue it with --resume, or "
             "start afresh with --restart (which keeps it under another name)")
    if unfinished:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        for path in found:
            kept = path[:-len(".npz")] + f".kept-{stamp}.npz"
            try:
                os.rename(path, kept)
            except OSError as e:
                fail(f"{path}: cannot keep it aside ({e.strerror})")
            note(f"... the earlier checkpoint {path} is kept as {kept}")


def _finished(path):
    """True when path is the checkpoint of a run that ended normally."""
    try:
        with open_regular(path, "checkpoint") as f, zipfile.ZipFile(f) as archive:
            info = archive.getinfo("state.npy")
            if info.file_size > MAX_TEXT_BYTES:
                return False
            with archive.open(info) as member:
                state = json.loads(str(numpy.lib.format.read_array(member, allow_pickle=False)))
        return isinstance(state, dict) and state.get("finished") is True
    except Exception:
        return False   # damaged or not ours: not to be replaced without a word


def check_model_size(n_params, what="the model"):
    """Refuse, before building anything, a model that cannot fit in memory:
    its parameters are held several times over (values, gradients, the
    updates' temporaries, the checkpoint) and drawn in float64 first."""
    need = n_params * 8 * 5 + (300 << 20)
    try:
        with open("/proc/meminfo") as f:
            available = next(int(line.split()[1]) * 1024 for line in f
                             if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return
    if need > available:
        fail(f"{what} has {n_params:,} parameters and would need about {need / 2**30:.1f} GiB "
             f"of memory, more than the {available / 2**30:.1f} GiB free here; make it smaller")


def check_batch_size(batch_size, n_examples, what="training"):
    """batch_size may be one number of examples, n_examples a list of the
    train, validation and test sizes (what then names them)."""
    if not isinstance(n_examples, (list, tuple)):
        n_examples, what = [n_examples], [what]
    for n, name in zip(n_examples, what):
        if batch_size > n:
            raise ValueError(f"batch_size={batch_size} is larger than the {n} {name} "
                             "examples: not one minibatch would fit")


def split_sizes(datasets):
    return [x.get_value(borrow=True).shape[0] for x, _ in datasets]


SPLITS = ("training", "validation", "test")


def report_time(script, seconds, what="The code"):
    """The closing timing line, on stderr like the original's."""
    print(f"{what} for file {os.path.basename(script)} ran for {seconds / 60.0:.2f}m",
          file=sys.stderr)
