"""What the tutorials share: MNIST loading and the pictures (filters, curves).

The scripts import from here (``from utils import load_data``), so each of
them stays runnable on its own with ``python code/<script>.py``. Importing
it changes nothing in PyTensor. Reading the files safely is mnist_files.py's
job; the machinery that is not part of the lessons (checkpoints, command
line, timers) is in machinery.py.
"""

import os

import numpy

import pytensor
import pytensor.tensor as pt

from mnist_files import (BUNDLED_MNIST, IDX_FILES, DatasetError,  # noqa: F401 (for the scripts)
                         load_idx_folder, load_pickle)


def load_mnist(dataset=None):
    """MNIST as NumPy arrays: ``[(train_x, train_y), (valid_x, valid_y), (test_x, test_y)]``.

    ``dataset`` may be None or the original's default name ``'mnist.pkl.gz'``
    (both mean the bundled files, checked against their checksums, giving
    exactly the historical pickle's contents; a file of that name in the
    working directory is ``'./mnist.pkl.gz'``), a path to a classic pickle, or
    a folder of the four IDX files. Any problem raises :class:`DatasetError`
    naming the file.
    """
    if is_bundled(dataset):
        return load_idx_folder(BUNDLED_MNIST, verify=True)
    if not dataset.strip():
        raise DatasetError("the dataset name is empty")
    if os.path.isdir(dataset):
        has_sums = os.path.exists(os.path.join(dataset, "SHA256SUMS"))
        return load_idx_folder(dataset, verify=has_sums)
    if not os.path.exists(dataset):
        raise DatasetError(f"{dataset}: no such file or folder")
    return load_pickle(dataset)


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


def is_bundled(dataset):
    return dataset is None or dataset == "mnist.pkl.gz"


def load_data(dataset=None):
    """The three MNIST splits as shared variables, the way the tutorials use them."""
    print("... loading data")
    from machinery import note
    note(f"  (MNIST from {os.path.normpath(BUNDLED_MNIST) if is_bundled(dataset) else dataset})")
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
    from machinery import write_atomically   # a new file, renamed into place
    write_atomically(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
    return path


def plot_validation_history(path, history, n_train_batches, title):
    """The validation error (%) after each check, against epochs trained."""
    xs = [it / n_train_batches for it, _ in history]
    ys = [100 * err for _, err in history]
    return plot_curves(path, {"validation error": (xs, ys)}, "epoch",
                       "validation error (%)", title)
