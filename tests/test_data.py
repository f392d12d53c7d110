"""load_data gives the historical MNIST split, and refuses bad files clearly."""
import gzip
import hashlib
import io
import os
import pickle
import shutil
import struct

import numpy
import pytest

import utils
from utils import DatasetError, load_mnist

BUNDLE = utils.BUNDLED_MNIST


def raw_idx(name):
    """Decode an official IDX file independently of utils (no shared code)."""
    with gzip.open(os.path.join(BUNDLE, name + ".gz"), "rb") as f:
        data = f.read()
    n_dims = data[3]
    shape = struct.unpack(">" + "I" * n_dims, data[4:4 + 4 * n_dims])
    return data, numpy.frombuffer(data[4 + 4 * n_dims:], numpy.uint8).reshape(shape)


# --- the default split is the historical mnist.pkl.gz ----------------------

def test_bundled_files_are_canonical_mnist():
    data, images = raw_idx("train-images-idx3-ubyte")
    # size and md5 of the canonical decompressed file (REFERENCE.md)
    assert len(data) == 47_040_016
    assert hashlib.md5(data).hexdigest() == "6bbc9ace898e44ae57da46a324031adb"
    # every file listed in SHA256SUMS matches
    for line in open(os.path.join(BUNDLE, "SHA256SUMS")):
        digest, name = line.split()
        assert hashlib.sha256(open(os.path.join(BUNDLE, name), "rb").read()).hexdigest() == digest


def test_default_split_matches_historical_definition(mnist):
    _, train_images = raw_idx("train-images-idx3-ubyte")
    _, train_labels = raw_idx("train-labels-idx1-ubyte")
    _, test_images = raw_idx("t10k-images-idx3-ubyte")
    _, test_labels = raw_idx("t10k-labels-idx1-ubyte")
    expected = [
        (train_images[:50000], train_labels[:50000]),
        (train_images[50000:], train_labels[50000:]),
        (test_images, test_labels),
    ]
    assert len(mnist) == 3
    for (x, y), (images, labels) in zip(mnist, expected):
        assert x.dtype == numpy.float32 and y.dtype == numpy.int64
        assert x.shape == (len(images), 784) and y.shape == (len(labels),)
        # same order, scaled by 1/256 exactly
        numpy.testing.assert_array_equal(x * 256, images.reshape(len(images), 784))
        numpy.testing.assert_array_equal(y, labels)
    assert [len(x) for x, _ in mnist] == [50000, 10000, 10000]
    assert mnist[0][0].max() == numpy.float32(255 / 256)


def test_load_data_hands_out_shared_variables(mnist):
    import pytensor
    datasets = utils.load_data()
    for (sx, sy), (x, y) in zip(datasets, mnist):
        assert sx.get_value(borrow=True).dtype == pytensor.config.floatX
        assert sy.dtype == "int32"
        numpy.testing.assert_array_equal(sy.eval(), y)
        numpy.testing.assert_allclose(sx.get_value(), x)


def test_idx_folder_and_gunzipped_files_load(tmp_path, mnist):
    for name in os.listdir(BUNDLE):
        if name.endswith(".gz"):
            with gzip.open(os.path.join(BUNDLE, name)) as f:
                (tmp_path / name[:-3]).write_bytes(f.read())
    loaded = load_mnist(str(tmp_path))
    for (x, y), (ex, ey) in zip(loaded, mnist):
        numpy.testing.assert_array_equal(x, ex)
        numpy.testing.assert_array_equal(y, ey)


class _Py2StrPickler(pickle._Pickler):
    """Writes bytes the way Python 2 wrote str (BINSTRING), so the test can
    make a pickle shaped like the historical mnist.pkl.gz."""

    def save_bytes(self, obj):
        self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[bytes] = save_bytes


def _small(mnist, n=50):
    return tuple((x[:n].copy(), y[:n].copy()) for x, y in mnist)


@pytest.mark.parametrize("style", ["py2", "py3k", "protocol2"])
def test_classic_pickles_load(tmp_path, mnist, style):
    data = _small(mnist)
    path = tmp_path / "mnist.pkl.gz"
    buf = io.BytesIO()
    if style == "py2":
        _Py2StrPickler(buf, protocol=2).dump(data)
    else:
        pickle.dump(data, buf, protocol=2 if style == "protocol2" else 4)
    path.write_bytes(gzip.compress(buf.getvalue()))
    loaded = load_mnist(str(path))
    for (x, y), (ex, ey) in zip(loaded, data):
        numpy.testing.assert_array_equal(x, ex)
        numpy.testing.assert_array_equal(y, ey)


# --- bad input: one clear DatasetError naming the file ---------------------

def _copy_bundle(tmp_path):
    folder = tmp_path / "mnist"
    shutil.copytree(BUNDLE, folder)
    return folder


def _rewrite_idx(folder, name, mutate):
    """Unpack one IDX file, change its bytes, pack it again (no SHA256SUMS)."""
    (folder / "SHA256SUMS").unlink()
    path = folder / (name + ".gz")
    data = bytearray(gzip.decompress(path.read_bytes()))
    path.write_bytes(gzip.compress(bytes(mutate(data))))
    return path


def _expect_error(target, *fragments):
    with pytest.raises(DatasetError) as info:
        load_mnist(str(target))
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_file(tmp_path):
    _expect_error(tmp_path / "nope.pkl.gz", "nope.pkl.gz", "no such file")


def test_missing_idx_file_in_folder(tmp_path):
    folder = _copy_bundle(tmp_path)
    (folder / "SHA256SUMS").unlink()
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    _expect_error(folder, "t10k-labels-idx1-ubyte", "no such file")


def test_truncated_gzip(tmp_path):
    folder = _copy_bundle(tmp_path)
    (folder / "SHA256SUMS").unlink()
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    _expect_error(folder, str(path), "truncated")


def test_corrupt_gzip(tmp_path):
    folder = _copy_bundle(tmp_path)
    (folder / "SHA256SUMS").unlink()
    path = folder / "train-labels-idx1-ubyte.gz"
    data = bytearray(path.read_bytes())
    for i in range(100, 200):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    _expect_error(folder, str(path), "corrupt gzip")


def test_checksum_mismatch(tmp_path):
    folder = _copy_bundle(tmp_path)
    path = folder / "t10k-labels-idx1-ubyte.gz"
    # a valid gzip with different content: only the checksum can tell
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-1] + b"\x00"))
    _expect_error(folder, str(path), "checksum mismatch")


def test_wrong_magic(tmp_path):
    folder = _copy_bundle(tmp_path)

    def mutate(data):
        data[3] = 0x01   # a label magic on an image file
        return data
    path = _rewrite_idx(folder, "t10k-images-idx3-ubyte", mutate)
    _expect_error(folder, str(path), "magic")


def test_wrong_image_shape(tmp_path):
    folder = _copy_bundle(tmp_path)

    def mutate(data):
        data[8:12] = struct.pack(">I", 27)
        return data
    path = _rewrite_idx(folder, "t10k-images-idx3-ubyte", mutate)
    _expect_error(folder, str(path), "27x28")


def test_length_disagrees_with_header(tmp_path):
    folder = _copy_bundle(tmp_path)
    path = _rewrite_idx(folder, "t10k-images-idx3-ubyte", lambda d: d[:-784])
    _expect_error(folder, str(path), "header promises")


def test_image_and_label_counts_disagree(tmp_path):
    folder = _copy_bundle(tmp_path)

    def drop_one_label(data):
        count = struct.unpack(">I", data[4:8])[0]
        data[4:8] = struct.pack(">I", count - 1)
        return data[:-1]
    _rewrite_idx(folder, "t10k-labels-idx1-ubyte", drop_one_label)
    _expect_error(folder, "10000 images", "9999 labels")


def _write_pickle(path, obj):
    path.write_bytes(gzip.compress(pickle.dumps(obj, protocol=4)))
    return path


@pytest.mark.parametrize("obj, fragment", [
    ([1, 2, 3], "(train, valid, test)"),
    ((1, 2, 3), "not an (images, labels) pair"),
    (("a", "b", "c"), "not an (images, labels) pair"),
])
def test_pickle_of_wrong_structure(tmp_path, obj, fragment):
    path = _write_pickle(tmp_path / "bad.pkl.gz", obj)
    _expect_error(path, str(path), fragment)


def test_pickle_with_wrong_arrays(tmp_path, mnist):
    data = _small(mnist)
    bad_labels = ((data[0][0], data[0][1] + 10),) + data[1:]
    path = _write_pickle(tmp_path / "labels.pkl.gz", bad_labels)
    _expect_error(path, "train labels", "outside 0..9")
    bad_shape = ((data[0][0][:, :700], data[0][1]),) + data[1:]
    path = _write_pickle(tmp_path / "shape.pkl.gz", bad_shape)
    _expect_error(path, "train images", "(n, 784)")
    mismatch = (data[0], (data[1][0], data[1][1][:-1]), data[2])
    path = _write_pickle(tmp_path / "count.pkl.gz", mismatch)
    _expect_error(path, "valid set has 50 images but 49 labels")


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_does_not_execute(tmp_path, mnist):
    marker = tmp_path / "pwned"
    data = _small(mnist)
    payload = (data[0], data[1], (_RunsCode(marker), data[2][1]))
    path = _write_pickle(tmp_path / "evil.pkl.gz", payload)
    # the payload is real: a plain unpickler would run it
    message = _expect_error(path, str(path), "refusing to load")
    assert "system" in message
    assert not marker.exists()
    pickle.loads(gzip.decompress(path.read_bytes()))
    assert marker.exists()


def test_truncated_pickle(tmp_path, mnist):
    raw = pickle.dumps(_small(mnist), protocol=4)
    path = tmp_path / "cut.pkl"
    path.write_bytes(raw[: len(raw) // 2])
    _expect_error(path, str(path), "not a readable MNIST pickle")
