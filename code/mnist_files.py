"""Reading MNIST's files safely: the IDX files, the classic pickles, the
checksums. Not part of the lessons: utils.load_mnist and utils.load_data,
which the tutorials call, use it.

Every file is a regular file read with a bound; a pickle may hold arrays and
nothing else (no code runs); any problem is a DatasetError naming the file.
"""

import gzip
import hashlib
import io
import os
import pickle
import re
import stat
import struct

import numpy

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

def _read_regular(path, limit=MAX_UNPACKED_BYTES):
    """At most limit bytes of path, which must be a regular file (a FIFO, a
    device or a folder is refused before anything is read from it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read it ({e.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise DatasetError(f"{path}: is a folder, expected a file")
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DatasetError(f"{path}: not a regular file (a device, FIFO or socket)")
        try:
            raw = f.read(limit + 1)
        except OSError as e:
            raise DatasetError(f"{path}: cannot read it ({e.strerror})") from None
    if len(raw) > limit:
        raise DatasetError(f"{path}: larger than {limit} bytes; not MNIST")
    return raw


def _read_maybe_gzip(path):
    """The bytes of ``path``, inflated when it is gzip'd (by magic, not name)."""
    raw = _read_regular(path)
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


def _check_sums(folder):
    """Compare every file listed in ``folder/SHA256SUMS`` with its digest.

    Lines are sha256sum's: a digest, then the name after two spaces (text
    mode) or a space and a star (binary mode). Only plain names of files
    beside SHA256SUMS are accepted, never a path elsewhere.
    """
    sums_path = os.path.join(folder, "SHA256SUMS")
    if not os.path.lexists(sums_path):
        raise DatasetError(f"{sums_path}: missing; cannot check the MNIST files")
    text = _read_regular(sums_path, limit=1 << 16).decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = re.fullmatch(r"([0-9a-fA-F]{64}) [ *](.+)", line.rstrip("\r"))
        if not match:
            raise DatasetError(f"{sums_path}, line {number}: not a sha256sum line "
                               "(64 hex digits, a space, a space or *, a file name)")
        digest, name = match.group(1).lower(), match.group(2)
        if name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise DatasetError(f"{sums_path}, line {number}: {name!r} is not a plain file "
                               "name beside SHA256SUMS")
        path = os.path.join(folder, name)
        if hashlib.sha256(_read_regular(path)).hexdigest() != digest:
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


def load_idx_folder(folder, verify=False):
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

    # numpy's array-rebuilding helpers, found where this numpy keeps them
    _reconstruct = numpy.zeros(0).__reduce__()[0]
    _frombuffer = numpy.zeros(1).__reduce_ex__(5)[0]
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): numpy.ndarray,
        ("numpy", "dtype"): numpy.dtype,
        # protocol 5 hands an array's bytes to this NumPy helper instead
        ("numpy.core.numeric", "_frombuffer"): _frombuffer,
        ("numpy._core.numeric", "_frombuffer"): _frombuffer,
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


def load_pickle(path):
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
