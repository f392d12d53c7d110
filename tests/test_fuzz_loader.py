"""Throw random and mutated files at load_mnist.

Every file must either load as a proper dataset or raise DatasetError: never
another exception, and never run code. The tally of outcomes is printed at
the end (pytest -s shows it).
"""
import collections
import gzip
import io
import os
import pickle
import struct
import tempfile

import numpy
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import utils
from utils import DatasetError, load_mnist

OUTCOMES = collections.Counter()
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
# any code a crafted pickle manages to run would create this file
MARKER = os.path.join(tempfile.gettempdir(), f"dlt-fuzz-pwned-{os.getpid()}")


def _small_pickle(mnist, n=20, protocol=4):
    data = tuple((x[:n], y[:n]) for x, y in mnist)
    return pickle.dumps(data, protocol=protocol)


def _try(path, kind):
    """Load path; record what happened; fail on anything but the two outcomes."""
    try:
        splits = load_mnist(str(path))
    except DatasetError as e:
        assert str(path) in str(e), f"error does not name the file: {e}"
        OUTCOMES[kind, "DatasetError"] += 1
    else:
        assert len(splits) == 3
        for x, y in splits:
            assert x.dtype == numpy.float32 and x.ndim == 2 and x.shape[1] == 784
            assert y.dtype == numpy.int64 and y.shape == (len(x),)
            assert ((0 <= x) & (x <= 1)).all() and ((0 <= y) & (y <= 9)).all()
        OUTCOMES[kind, "loaded"] += 1
    assert not os.path.exists(MARKER), "a crafted file ran code"


@pytest.fixture(scope="module")
def files(small_mnist, mnist):
    """The bytes of every small valid input the mutations start from."""
    idx = {name: open(os.path.join(small_mnist, name), "rb").read()
           for name in os.listdir(small_mnist) if name.endswith(".gz")}
    return {"idx": idx, "pickle": gzip.compress(_small_pickle(mnist))}


def _write_folder(tmp_path, idx, name, data):
    folder = tmp_path / "idx"
    folder.mkdir(exist_ok=True)
    for other, content in idx.items():
        (folder / other).write_bytes(data if other == name else content)
    return folder


mutation = st.one_of(
    st.tuples(st.just("cut"), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)),
                                        min_size=1, max_size=8)),
    st.tuples(st.just("random"), st.binary(max_size=2000)),
)


def _mutate(data, how):
    kind, arg = how
    if kind == "cut":
        return data[: int(len(data) * arg)]
    if kind == "flip":
        out = bytearray(data)
        for where, xor in arg:
            if out:
                out[min(int(where * len(out)), len(out) - 1)] ^= xor
        return bytes(out)
    return arg


@SETTINGS
@given(name=st.sampled_from(sorted(utils.IDX_FILES.values())), how=mutation,
       gzipped=st.booleans())
def test_mutated_gzip_idx_files(tmp_path_factory, files, name, how, gzipped):
    tmp_path = tmp_path_factory.mktemp("f")
    original = files["idx"][name + ".gz"]
    if gzipped:
        data = _mutate(original, how)                       # damage the gzip stream
    else:
        data = gzip.compress(_mutate(gzip.decompress(original), how))   # damage the IDX
    _try(_write_folder(tmp_path, files["idx"], name + ".gz", data), "idx " + how[0])


@SETTINGS
@given(name=st.sampled_from(sorted(utils.IDX_FILES.values())),
       header=st.lists(st.integers(0, 2 ** 32 - 1), min_size=1, max_size=4))
def test_idx_files_with_random_headers(tmp_path_factory, files, name, header):
    tmp_path = tmp_path_factory.mktemp("f")
    body = gzip.decompress(files["idx"][name + ".gz"])
    data = struct.pack(">" + "I" * len(header), *header) + body[4 * len(header):]
    _try(_write_folder(tmp_path, files["idx"], name + ".gz", gzip.compress(data)),
         "idx header")


@SETTINGS
@given(how=mutation)
def test_mutated_pickles(tmp_path_factory, files, how):
    path = tmp_path_factory.mktemp("f") / "mnist.pkl.gz"
    path.write_bytes(_mutate(files["pickle"], how))
    _try(path, "pickle " + how[0])


python_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
    | st.binary(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
    | st.tuples(inner, inner, inner) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=12)


@SETTINGS
@given(obj=python_values, protocol=st.integers(0, 5))
def test_random_pickles(tmp_path_factory, obj, protocol):
    path = tmp_path_factory.mktemp("f") / "random.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    _try(path, "pickle random")


# module.name pairs a crafted pickle may try to import and call
DANGEROUS = [("os", "system"), ("posix", "system"), ("builtins", "eval"),
             ("builtins", "exec"), ("subprocess", "Popen"), ("builtins", "__import__"),
             ("numpy", "load"), ("numpy.testing._private.utils", "runstring"),
             ("pytensor", "function"), ("_codecs", "decode"), ("shutil", "rmtree")]


def _crafted(module, name, position, protocol):
    """A pickle that imports module.name and calls it with a command that
    would create MARKER, hidden at one position of a valid-looking tuple."""
    command = f"touch {MARKER}"
    call = (pickle.GLOBAL + f"{module}\n{name}\n".encode()
            + pickle.BINUNICODE + struct.pack("<I", len(command)) + command.encode()
            + pickle.TUPLE1 + pickle.REDUCE)
    empty = pickle.EMPTY_TUPLE
    parts = [empty, empty, empty]
    parts[position] = call
    return (pickle.PROTO + bytes([protocol]) + pickle.MARK + b"".join(parts)
            + pickle.TUPLE + pickle.STOP)


@SETTINGS
@given(target=st.sampled_from(DANGEROUS), position=st.integers(0, 2),
       protocol=st.integers(2, 5), gzipped=st.booleans())
def test_crafted_pickles_never_run(tmp_path_factory, target, position, protocol, gzipped):
    data = _crafted(*target, position, protocol)
    path = tmp_path_factory.mktemp("f") / "evil.pkl"
    path.write_bytes(gzip.compress(data) if gzipped else data)
    _try(path, "pickle crafted")


def test_crafted_pickle_is_real():
    """The crafted payload does run under a plain unpickler: the test above
    would catch a loader that let it through."""
    try:
        pickle.loads(_crafted("os", "system", 1, 2))
        assert os.path.exists(MARKER)
    finally:
        if os.path.exists(MARKER):
            os.remove(MARKER)


def test_print_tally():
    """Summary for the run's log: how many files of each kind, and what they did."""
    assert sum(OUTCOMES.values()) > 0
    for (kind, outcome), n in sorted(OUTCOMES.items()):
        print(f"fuzz: {kind:16s} {outcome:12s} {n}")
    assert set(o for _, o in OUTCOMES) <= {"loaded", "DatasetError"}
