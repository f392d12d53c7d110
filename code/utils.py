"""Pieces every tutorial shares: MNIST loading, filter pictures, the
early-stopping loop and the command-line helpers.

The scripts import from here (``from utils import load_data``), so each of
them stays runnable on its own with ``python code/<script>.py``.
"""

import argparse
import gzip
import hashlib
import io
import json
import math
import os
import pickle
import signal
import struct
import sys
import timeit

import numpy

import pytensor
import pytensor.tensor as pt

# faster matrix products under PyTensor's default (Numba) mode; see the module
import numba_fixes  # noqa: F401

timer = timeit.default_timer

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLED_MNIST = os.path.join(HERE, os.pardir, "data", "mnist")

# The four official files and the IDX header each must carry.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IMAGE_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABEL_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
IMAGE_SIDE = 28
N_PIXELS = IMAGE_SIDE * IMAGE_SIDE
N_CLASSES = 10

# Never inflate more than this from one gzip file: the historical pickle
# unpacks to about 220 MB, so anything far bigger is not MNIST.
MAX_UNPACKED_BYTES = 512 * 1024 * 1024


class DatasetError(Exception):
    """The one error ``load_data`` raises for a file it cannot use."""


# ---------------------------------------------------------------------------
# Reading files safely
# ---------------------------------------------------------------------------

def _read_maybe_gzip(path):
    """The bytes of ``path``, inflated when it is gzip'd (by magic, not name)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DatasetError(f"{path}: is a folder, expected a file") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read it ({e.strerror})") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as g:
            data = g.read(MAX_UNPACKED_BYTES + 1)
    except EOFError:
        raise DatasetError(f"{path}: the gzip stream is cut short (truncated file)") from None
    except (OSError, gzip.BadGzipFile, ValueError) as e:
        raise DatasetError(f"{path}: corrupt gzip data ({e})") from None
    except Exception as e:  # zlib.error and friends
        raise DatasetError(f"{path}: corrupt gzip data ({e})") from None
    if len(data) > MAX_UNPACKED_BYTES:
        raise DatasetError(f"{path}: inflates to more than {MAX_UNPACKED_BYTES} bytes; not MNIST")
    return data


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _check_sums(folder):
    """Compare every file listed in ``folder/SHA256SUMS`` with its digest."""
    sums_path = os.path.join(folder, "SHA256SUMS")
    try:
        with open(sums_path) as f:
            lines = f.read().splitlines()
    except OSError:
        raise DatasetError(f"{sums_path}: missing; cannot check the bundled MNIST") from None
    for line in lines:
        if not line.strip():
            continue
        digest, name = line.split()
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            raise DatasetError(f"{path}: no such file")
        if _sha256(path) != digest:
            raise DatasetError(
                f"{path}: checksum mismatch (SHA-256 differs from {sums_path}); "
                "the file is damaged or was replaced")


def read_idx(path, magic):
    """One IDX file as a uint8 array, after checking its header and length."""
    data = _read_maybe_gzip(path)
    n_dims = magic & 0xFF
    header = 4 + 4 * n_dims
    if len(data) < header:
        raise DatasetError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    (found,) = struct.unpack(">I", data[:4])
    if found != magic:
        raise DatasetError(
            f"{path}: wrong IDX magic number 0x{found:08x}, expected 0x{magic:08x}")
    shape = struct.unpack(">" + "I" * n_dims, data[4:header])
    if n_dims == 3 and shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise DatasetError(
            f"{path}: images are {shape[1]}x{shape[2]}, expected {IMAGE_SIDE}x{IMAGE_SIDE}")
    expected = int(numpy.prod(shape, dtype=numpy.int64))
    if len(data) - header != expected:
        raise DatasetError(
            f"{path}: header promises {expected} bytes of data for shape {shape}, "
            f"file holds {len(data) - header}")
    return numpy.frombuffer(data, dtype=numpy.uint8, offset=header).reshape(shape)


def _find_idx(folder, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    raise DatasetError(f"{os.path.join(folder, stem)}[.gz]: no such file")


def _load_idx_folder(folder, verify=False):
    """MNIST from a folder of IDX files, split the historical way."""
    if verify:
        _check_sums(folder)
    arrays = {}
    for key, stem in IDX_FILES.items():
        magic = IMAGE_MAGIC if key.endswith("images") else LABEL_MAGIC
        arrays[key] = (_find_idx(folder, stem), read_idx(_find_idx(folder, stem), magic))
    for part in ("train", "test"):
        (ipath, images), (lpath, labels) = arrays[part + "_images"], arrays[part + "_labels"]
        if len(images) != len(labels):
            raise DatasetError(
                f"{ipath}: {len(images)} images but {lpath} has {len(labels)} labels")
        if labels.size and labels.max() >= N_CLASSES:
            raise DatasetError(f"{lpath}: label {labels.max()} is outside 0..9")
    train_x, train_y = arrays["train_images"][1], arrays["train_labels"][1]
    test_x, test_y = arrays["test_images"][1], arrays["test_labels"][1]
    # The historical mnist.pkl.gz keeps the last sixth (10,000 of 60,000) of
    # the training file as the validation set.
    n_valid = len(train_x) // 6
    n_train = len(train_x) - n_valid
    if n_train == 0 or n_valid == 0 or len(test_x) == 0:
        raise DatasetError(f"{folder}: too few examples to split into train/valid/test")

    def scaled(images):
        # byte / 256, as the historical pickle did: the brightest pixel is 0.99609375
        return (images.reshape(len(images), N_PIXELS).astype(numpy.float32)
                / numpy.float32(256))

    return [
        (scaled(train_x[:n_train]), train_y[:n_train].astype(numpy.int64)),
        (scaled(train_x[n_train:]), train_y[n_train:].astype(numpy.int64)),
        (scaled(test_x), test_y.astype(numpy.int64)),
    ]


class _RefusedGlobal(pickle.UnpicklingError):
    pass


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Admits exactly what an MNIST pickle holds: numpy arrays in tuples.

    Any other global (``os.system``, ``builtins.eval``, ...) is refused before
    it can be called, so a crafted file cannot run code.
    """

    # numpy's array-rebuilding helper, found where this numpy keeps it
    _reconstruct = numpy.zeros(0).__reduce__()[0]
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): numpy.ndarray,
        ("numpy", "dtype"): numpy.dtype,
        # protocol-2 pickles written by Python 3 store bytes through this
        ("_codecs", "encode"): __import__("codecs").encode,
    }

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise _RefusedGlobal(
                f"refusing to load '{module}.{name}': an MNIST pickle holds only arrays"
            ) from None


def _check_split(path, name, split):
    if not (isinstance(split, tuple) and len(split) == 2):
        raise DatasetError(f"{path}: {name} set is not an (images, labels) pair")
    x, y = split
    if not (isinstance(x, numpy.ndarray) and isinstance(y, numpy.ndarray)):
        raise DatasetError(f"{path}: {name} set does not hold numpy arrays")
    if x.dtype.kind != "f" or x.ndim != 2 or x.shape[1] != N_PIXELS:
        raise DatasetError(
            f"{path}: {name} images have dtype {x.dtype} and shape {x.shape}, "
            f"expected floats of shape (n, {N_PIXELS})")
    if y.dtype.kind not in "iu" or y.ndim != 1:
        raise DatasetError(
            f"{path}: {name} labels have dtype {y.dtype} and shape {y.shape}, "
            "expected integers of shape (n,)")
    if len(x) != len(y):
        raise DatasetError(f"{path}: {name} set has {len(x)} images but {len(y)} labels")
    if len(x) == 0:
        raise DatasetError(f"{path}: {name} set is empty")
    if not numpy.all(numpy.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise DatasetError(f"{path}: {name} images hold values outside [0, 1]")
    if y.min() < 0 or y.max() >= N_CLASSES:
        raise DatasetError(f"{path}: {name} labels hold values outside 0..9")
    return x.astype(numpy.float32, copy=False), y.astype(numpy.int64, copy=False)


def _load_pickle(path):
    """MNIST from a classic ``mnist.pkl.gz`` (Python 2) or ``mnist_py3k.pkl.gz``."""
    data = _read_maybe_gzip(path)
    try:
        # latin1 lets the Python 2 pickle's byte strings become numpy buffers
        obj = _ArraysOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except _RefusedGlobal as e:
        raise DatasetError(f"{path}: {e}") from None
    except Exception as e:  # a truncated or garbled stream fails in many ways
        raise DatasetError(f"{path}: not a readable MNIST pickle ({type(e).__name__}: {e})") from None
    if not (isinstance(obj, tuple) and len(obj) == 3):
        raise DatasetError(f"{path}: expected a (train, valid, test) tuple, found {type(obj).__name__}")
    return [_check_split(path, name, split)
            for name, split in zip(("train", "valid", "test"), obj)]


def load_mnist(dataset=None):
    """MNIST as NumPy arrays: ``[(train_x, train_y), (valid_x, valid_y), (test_x, test_y)]``.

    ``dataset`` may be None or ``'mnist.pkl.gz'`` (the bundled files, checked
    against their checksums, giving exactly the historical pickle's contents),
    a path to a classic pickle, or a folder of the four IDX files.
    Any problem raises :class:`DatasetError` naming the file.
    """
    if dataset is None or (dataset == "mnist.pkl.gz" and not os.path.exists(dataset)):
        return _load_idx_folder(BUNDLED_MNIST, verify=True)
    if os.path.isdir(dataset):
        has_sums = os.path.exists(os.path.join(dataset, "SHA256SUMS"))
        return _load_idx_folder(dataset, verify=has_sums)
    if not os.path.exists(dataset):
        raise DatasetError(f"{dataset}: no such file or folder")
    return _load_pickle(dataset)


# start-snippet-shared-dataset
def shared_dataset(data_xy, borrow=True):
    """Put one split into shared variables, so minibatches are sliced from
    memory the compiled function already holds instead of being copied in
    on every call (on a GPU this is what keeps the data on the device).

    The labels are stored as floatX (the only type a GPU could hold) and
    handed out cast to int32, which is what indexing needs.
    """
    data_x, data_y = data_xy
    shared_x = pytensor.shared(
        numpy.asarray(data_x, dtype=pytensor.config.floatX), borrow=borrow)
    shared_y = pytensor.shared(
        numpy.asarray(data_y, dtype=pytensor.config.floatX), borrow=borrow)
    return shared_x, pt.cast(shared_y, "int32")
# end-snippet-shared-dataset


def load_data(dataset=None):
    """The three MNIST splits as shared variables, the way the tutorials use them."""
    print("... loading data")
    return [shared_dataset(split) for split in load_mnist(dataset)]


# ---------------------------------------------------------------------------
# Pictures
# ---------------------------------------------------------------------------

def scale_to_unit_interval(ndar, eps=1e-8):
    """Shift ``ndar`` so its minimum is 0, then divide by its (new) maximum."""
    ndar = ndar.copy()
    ndar -= ndar.min()
    ndar *= 1.0 / (ndar.max() + eps)
    return ndar


# start-snippet-tile
def tile_raster_images(X, img_shape, tile_shape, tile_spacing=(0, 0),
                       scale_rows_to_unit_interval=True, output_pixel_vals=True):
    """Lay the rows of ``X`` out as a grid of small images.

    X: a 2-D array, one flattened image per row; or a tuple of four such
       arrays (or None) giving the red, green, blue and alpha channels.
    img_shape: (height, width) of one image.
    tile_shape: (rows, columns) of the grid, filled row by row.
    tile_spacing: blank pixels between neighbouring images.
    scale_rows_to_unit_interval: stretch each image to [0, 1] before drawing.
    output_pixel_vals: uint8 values in 0..255 (ready for PIL) when True,
       otherwise floats in [0, 1].
    """
    assert len(img_shape) == 2 and len(tile_shape) == 2 and len(tile_spacing) == 2
    out_shape = [(ishp + tsp) * tshp - tsp
                 for ishp, tshp, tsp in zip(img_shape, tile_shape, tile_spacing)]

    if isinstance(X, tuple):
        assert len(X) == 4, "a tuple X must hold four channels (R, G, B, A)"
        if output_pixel_vals:
            dtype = numpy.uint8
            channel_defaults = [0, 0, 0, 255]   # missing alpha means opaque
        else:
            dtype = next((c.dtype for c in X if c is not None), numpy.float64)
            channel_defaults = [0.0, 0.0, 0.0, 1.0]
        out = numpy.zeros((out_shape[0], out_shape[1], 4), dtype=dtype)
        for i, channel in enumerate(X):
            if channel is None:
                out[:, :, i] = channel_defaults[i]
            else:
                out[:, :, i] = tile_raster_images(
                    channel, img_shape, tile_shape, tile_spacing,
                    scale_rows_to_unit_interval, output_pixel_vals)
        return out

    H, W = img_shape
    Hs, Ws = tile_spacing
    out = numpy.zeros(out_shape, dtype=numpy.uint8 if output_pixel_vals else X.dtype)
    scale = 255 if output_pixel_vals else 1
    for row in range(tile_shape[0]):
        for col in range(tile_shape[1]):
            i = row * tile_shape[1] + col
            if i >= X.shape[0]:
                continue  # fewer images than tiles: leave the rest blank
            img = X[i].reshape(img_shape)
            if scale_rows_to_unit_interval:
                img = scale_to_unit_interval(img)
            top, left = row * (H + Hs), col * (W + Ws)
            out[top:top + H, left:left + W] = img * scale
    return out
# end-snippet-tile


def plot_curves(path, curves, xlabel, ylabel, title):
    """Save a line plot: curves maps a label to (xs, ys)."""
    import matplotlib
    matplotlib.use("Agg")          # files only, no window
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    for label, (xs, ys) in curves.items():
        ax.plot(xs, ys, label=label, marker="." if len(xs) < 40 else None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_validation_history(path, history, n_train_batches, title):
    """The validation error (%) after each check, against epochs trained."""
    xs = [it / n_train_batches for it, _ in history]
    ys = [100 * err for _, err in history]
    return plot_curves(path, {"validation error": (xs, ys)}, "epoch",
                       "validation error (%)", title)


# ---------------------------------------------------------------------------
# Early stopping, shared by logistic_sgd.py, mlp.py and SdA.py
# ---------------------------------------------------------------------------

# start-snippet-early-stopping
def train_with_early_stopping(train_model, validate, test, n_train_batches,
                              n_epochs, patience, patience_increase=2,
                              improvement_threshold=0.995, on_new_best=None,
                              checkpoint=None, progress=None):
    """Minibatch SGD that stops once validation error stops improving.

    train_model(i): one SGD step on minibatch i; returns the cost.
    validate(), test(): the error of each validation (test) minibatch.
    patience: how many minibatch iterations to look at no matter what; each
        clear improvement (error below improvement_threshold times the best
        so far) extends it to patience_increase times the current iteration.
    on_new_best(): called after each new best model, e.g. to save it.
    checkpoint, progress: where to save the run at each epoch's end, and the
        state to resume from (see Checkpoint); both optional.
    Returns (best_validation_loss, best_iter, test_score, epoch).
    """
    if progress is None:
        progress = checkpoint.progress if checkpoint is not None else {}
    s = progress
    if not s:   # a fresh run
        s.update(epoch=1, minibatch=0, patience=patience, best_validation_loss=math.inf,
                 best_iter=0, test_score=0.0, done=False, history=[])
    # check the validation set once per epoch, or more often if patience is short
    validation_frequency = min(n_train_batches, patience // 2)

    epoch = s["epoch"]
    while epoch <= n_epochs and not s["done"]:
        epoch_start = timer()
        for minibatch_index in range(s["minibatch"], n_train_batches):
            cost = train_model(minibatch_index)
            check_finite(cost, epoch, minibatch_index, n_train_batches, checkpoint)
            # iterations are counted from 0 across epochs
            iter = (epoch - 1) * n_train_batches + minibatch_index

            if (iter + 1) % validation_frequency == 0:
                this_validation_loss = numpy.mean(validate(), dtype="float64")
                check_finite(this_validation_loss, epoch, minibatch_index,
                             n_train_batches, checkpoint, what="validation error")
                s["history"].append([iter + 1, this_validation_loss])
                print("epoch %i, minibatch %i/%i, validation error %f %%"
                      % (epoch, minibatch_index + 1, n_train_batches,
                         this_validation_loss * 100.0))

                if this_validation_loss < s["best_validation_loss"]:
                    if this_validation_loss < s["best_validation_loss"] * improvement_threshold:
                        s["patience"] = max(s["patience"], iter * patience_increase)
                    s["best_validation_loss"] = this_validation_loss
                    s["best_iter"] = iter
                    # the test error is only ever read for the best model
                    s["test_score"] = numpy.mean(test(), dtype="float64")
                    print("     epoch %i, minibatch %i/%i, test error of best model %f %%"
                          % (epoch, minibatch_index + 1, n_train_batches,
                             s["test_score"] * 100.0))
                    if checkpoint is not None:
                        checkpoint.remember_best()
                    if on_new_best is not None:
                        on_new_best()

            if s["patience"] <= iter:
                s["done"] = True
                break
            if stop_requested():   # Ctrl-C or SIGTERM: save where we are
                s["minibatch"] = minibatch_index + 1
                raise TrainingInterrupted(checkpoint.save() if checkpoint else None)

        if not s["done"]:
            report_patience(timer() - epoch_start, epoch, n_epochs, s["patience"],
                            n_train_batches)
            epoch, s["epoch"], s["minibatch"] = epoch + 1, epoch + 1, 0
        if checkpoint is not None:
            checkpoint.save()

    return s["best_validation_loss"], s["best_iter"], s["test_score"], min(epoch, n_epochs)
# end-snippet-early-stopping


def report_patience(seconds, epoch, n_epochs, patience, n_train_batches):
    """On stderr: how long the epoch took, and how many more the current
    patience allows (a new clear best can extend it)."""
    last = min(n_epochs, patience // n_train_batches + 1)
    left = max(last - epoch, 0)
    print(f"  (epoch {epoch} took {seconds:.1f}s; the current patience allows {left} more "
          f"epochs, about {left * seconds / 60:.1f}m)", file=sys.stderr, flush=True)


def train_epochs(train_fn, n_train_batches, n_epochs, progress, report,
                 checkpoint=None):
    """Plain SGD for a fixed number of epochs (the autoencoders' training).

    progress holds 'epoch' (next to run, from 0), 'minibatch' (next to run),
    'partial' (costs of the epoch in progress) and 'costs' (mean cost of each
    finished epoch); it is updated in place, so a run resumes exactly.
    report(epoch, mean_cost) prints the epoch's line.
    """
    if not progress:
        progress.update(epoch=0, minibatch=0, partial=[], costs=[])
    while progress["epoch"] < n_epochs:
        for batch_index in range(progress["minibatch"], n_train_batches):
            cost = float(train_fn(batch_index))
            check_finite(cost, progress["epoch"], batch_index, n_train_batches, checkpoint)
            progress["partial"].append(cost)
            if stop_requested():
                progress["minibatch"] = batch_index + 1
                raise TrainingInterrupted(checkpoint.save() if checkpoint else None)
        mean_cost = numpy.mean(progress["partial"], dtype="float64")
        progress["costs"].append(mean_cost)
        report(progress["epoch"], mean_cost)
        progress.update(epoch=progress["epoch"] + 1, minibatch=0, partial=[])
        if checkpoint is not None:
            checkpoint.save()
    return progress["costs"]


# ---------------------------------------------------------------------------
# Surviving interruptions: checkpoints, stop signals, diverging costs
# ---------------------------------------------------------------------------

class CheckpointError(Exception):
    """A checkpoint that cannot be resumed (missing, damaged, another run's)."""


class TrainingInterrupted(Exception):
    """Ctrl-C or SIGTERM arrived; the argument is the checkpoint's path."""


class TrainingDiverged(Exception):
    """The cost became NaN or infinite."""


def check_finite(cost, epoch, minibatch_index, n_train_batches, checkpoint, what="cost"):
    """Stop a run whose cost (or validation error) is no longer a number."""
    if not math.isfinite(cost):
        if checkpoint is not None and os.path.exists(checkpoint.path):
            where = f"last good checkpoint kept in {checkpoint.path}"
        else:
            where = "no checkpoint had been saved yet"
        raise TrainingDiverged(
            f"the {what} became {float(cost)} at epoch {epoch}, minibatch "
            f"{minibatch_index + 1}/{n_train_batches}; the learning rate is probably "
            f"too large ({where})")


_stop_signals = []


def _on_stop_signal(signum, frame):
    if _stop_signals:          # a second Ctrl-C: stop at once
        raise KeyboardInterrupt
    _stop_signals.append(signum)
    print("\n... stopping after this minibatch and saving a checkpoint "
          "(again to abort at once)", file=sys.stderr, flush=True)


def install_stop_handlers():
    """Turn Ctrl-C and SIGTERM into a request the training loops honour."""
    signal.signal(signal.SIGINT, _on_stop_signal)
    signal.signal(signal.SIGTERM, _on_stop_signal)


def stop_requested():
    return bool(_stop_signals)


class Checkpoint(object):
    """One training run's state in a single .npz file, written atomically.

    config: the settings that define the run (sizes, dataset, rates...); a
        checkpoint written with other settings is refused.
    variables: name -> shared variable (parameters and random generators)
        or numpy RandomState, saved and restored by value.
    progress: a dict of plain numbers and lists (epoch, costs, early-stopping
        state) that the training loops update in place.
    No pickled object goes in or comes out (allow_pickle=False).
    """

    def __init__(self, folder, config, variables, name="checkpoint.npz"):
        self.path = os.path.join(folder, name)
        self.config = json.loads(json.dumps(config))   # as it will read back
        self.variables = variables
        self.progress = {}
        self.best = None

    def remember_best(self):
        """Keep a copy of the current parameters as the best so far."""
        self.best = {name: var.get_value() for name, var in self.variables.items()
                     if hasattr(var, "get_value") and not _is_rng(var)}

    def save(self):
        payload = {"config": numpy.array(json.dumps(self.config, sort_keys=True)),
                   "progress": numpy.array(json.dumps(self.progress))}
        for name, var in self.variables.items():
            if isinstance(var, numpy.random.RandomState):
                state = var.get_state(legacy=False)
                payload["rng/" + name] = numpy.array(json.dumps(
                    {k: v for k, v in state.items() if k != "state"} | {"pos": state["state"]["pos"]}))
                payload["rngkey/" + name] = state["state"]["key"]
            elif _is_rng(var):
                payload["rng/" + name] = numpy.array(json.dumps(var.get_value().bit_generator.state))
            else:
                payload["var/" + name] = var.get_value()
        for name, value in (self.best or {}).items():
            payload["best/" + name] = value
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            numpy.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)     # a kill before this line leaves the old file
        return self.path

    def load(self):
        """Restore the variables and progress; raise CheckpointError if unusable."""
        if not os.path.exists(self.path):
            raise CheckpointError(f"{self.path}: no checkpoint to resume from")
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
        except CheckpointError:
            raise
        except Exception as e:
            raise CheckpointError(f"{self.path}: unreadable checkpoint ({e})") from None
        for name, var in self.variables.items():
            if isinstance(var, numpy.random.RandomState):
                meta = json.loads(str(values["rng/" + name]))
                var.set_state({"bit_generator": meta["bit_generator"],
                               "state": {"key": values["rngkey/" + name], "pos": meta["pos"]},
                               "has_gauss": meta["has_gauss"], "gauss": meta["gauss"]})
            elif _is_rng(var):
                generator = var.get_value()
                generator.bit_generator.state = json.loads(str(values["rng/" + name]))
                var.set_value(generator, borrow=True)
            else:
                value = values["var/" + name]
                if value.shape != var.get_value(borrow=True).shape:
                    raise CheckpointError(f"{self.path}: {name} has shape {value.shape}, "
                                          f"expected {var.get_value(borrow=True).shape}")
                var.set_value(value.astype(var.dtype))
        best = {k[5:]: v for k, v in values.items() if k.startswith("best/")}
        self.best = best or None
        self.progress.clear()
        self.progress.update(json.loads(str(values["progress"])))
        return self.progress


def _is_rng(var):
    return (hasattr(var, "get_value")
            and isinstance(var.get_value(borrow=True), numpy.random.Generator))


def open_checkpoint(folder, config, variables, resume, name="checkpoint.npz",
                    required=True):
    """A Checkpoint for this run, restored from disk when resume is True
    (and the file exists, unless required)."""
    checkpoint = Checkpoint(folder, config, variables, name=name)
    if resume and (required or os.path.exists(checkpoint.path)):
        checkpoint.load()
        print(f"... resuming from {checkpoint.path}")
    return checkpoint


def dataset_fingerprint(dataset, datasets):
    """What identifies the data for a checkpoint: its name and split sizes."""
    name = "bundled" if dataset in (None, "mnist.pkl.gz") and not (
        dataset and os.path.exists(dataset)) else os.path.abspath(dataset)
    return {"dataset": name,
            "sizes": [int(x.get_value(borrow=True).shape[0]) for x, _ in datasets]}


def run_cli(train):
    """Run a script's training and turn the expected failures into one line."""
    install_stop_handlers()
    try:
        train()
    except TrainingInterrupted as e:
        print(f"interrupted: checkpoint saved to {e.args[0]}; run again with "
              "--resume to continue", file=sys.stderr)
        raise SystemExit(130)
    except (DatasetError, CheckpointError, TrainingDiverged, ValueError,
            FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1)


# ---------------------------------------------------------------------------
# Command-line helpers
# ---------------------------------------------------------------------------

class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad value gets one line on stderr, not the whole usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number(text, kind):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def positive_float(text):
    value = _number(text, float)
    if not value > 0 or not numpy.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def positive_int(text):
    value = _number(text, int)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_float(text):
    value = _number(text, float)
    if not value >= 0 or not numpy.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text}")
    return value


def add_common_arguments(parser, output_folder):
    parser.add_argument("--dataset", default="mnist.pkl.gz",
                        help="MNIST to use: a classic mnist.pkl.gz, a folder of IDX files, "
                             "or the default name for the bundled copy in data/mnist")
    parser.add_argument("--output-folder", default=output_folder,
                        help="where the outputs go (default: %(default)s)")
    parser.add_argument("--mode", default=None,
                        help="PyTensor compilation mode, e.g. FAST_RUN (Numba), NUMBA, C, "
                             "FAST_COMPILE, JAX (default: PyTensor's own)")
    parser.add_argument("--floatX", default="float32", choices=["float32", "float64"],
                        help="PyTensor's float type for data and parameters "
                             "(default: %(default)s, as the published runs)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the checkpoint in the output folder "
                             "(one is saved after every epoch and on Ctrl-C)")


def apply_common_arguments(args):
    """Set PyTensor's config from the flags, before any graph is built."""
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



class EpochTimer(object):
    """After each epoch, say on stderr how long it took and how long is left.

    stderr keeps stdout identical to the original tutorials' output.
    """

    def __init__(self, n_epochs, what="epoch"):
        self.n_epochs = n_epochs
        self.what = what
        self.done = 0
        self.start = self.last = timer()

    def tick(self):
        now = timer()
        self.done += 1
        took, self.last = now - self.last, now
        left = (now - self.start) / self.done * (self.n_epochs - self.done)
        print(f"  ({self.what} {self.done}/{self.n_epochs} took {took:.1f}s, "
              f"about {left / 60:.1f}m to go)", file=sys.stderr, flush=True)
