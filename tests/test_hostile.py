"""Hostile and careless input: every case ends in one line of error (or works),
never a traceback, a hang, or a lost or overwritten file.

The families follow the issue that asked for them: planted links, checkpoints
that would be lost, batch sizes, damaged checkpoints and models, output
folders that cannot be written, unbounded or special files, --mode, absurd
sizes, SHA256SUMS, and the small ones (protocol-5 pickles, a stray
mnist.pkl.gz, --dataset ""). The exercise checker has its own cases in
test_exercises.py. Real processes where the behaviour is a process's.
"""
import gzip
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import numpy
import pytest

from utils import DatasetError, load_mnist

from conftest import CODE, command, run, write_idx_folder


def script(name, *args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, os.path.join(CODE, name), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)


def one_error_line(done, *fragments, code=1):
    """The process failed with exactly one line on stderr that names the
    problem: no traceback."""
    assert done.returncode == code, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if not line.startswith("  (")]
    assert len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith("error: ") or ": error: " in lines[0], lines[0]
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


LOGISTIC = ["--n-epochs", "2", "--batch-size", "100", "--floatX", "float64"]


@pytest.fixture(scope="module")
def trained(small_mnist, tmp_path_factory):
    """A finished logistic-regression run: its folder, checkpoint and model."""
    folder = tmp_path_factory.mktemp("trained")
    done = script("logistic_sgd.py", "--dataset", small_mnist, "--output-folder", str(folder),
                  *LOGISTIC)
    assert done.returncode == 0, done.stderr
    return folder


def copy_run(trained, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(trained, folder)
    return folder


# --- 1. planted links --------------------------------------------------------

def test_a_planted_link_is_never_followed(small_mnist, tmp_path):
    """Links named like every file a run writes, and like the temporary files
    of the old code, pointing at a file outside: the file stays as it was."""
    folder, victim = tmp_path / "out", tmp_path / "victim.txt"
    folder.mkdir()
    victim.write_text("precious")
    for name in ("checkpoint.npz.tmp", "best_model.npz.tmp.npz", "validation_error.png",
                 "best_model.npz", ".checkpoint.npz.tmp"):
        os.symlink(victim, folder / name)
    done = script("logistic_sgd.py", "--dataset", small_mnist, "--output-folder", str(folder),
                  *LOGISTIC)
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "precious"
    # the files the run wrote replaced the links named like them
    assert not os.path.islink(folder / "best_model.npz")
    assert not [n for n in os.listdir(folder) if n.endswith(".tmp") and
                not os.path.islink(folder / n)]


def test_a_link_as_the_lock_file_is_refused(small_mnist, tmp_path):
    folder, victim = tmp_path / "out", tmp_path / "victim.txt"
    folder.mkdir()
    victim.write_text("precious")
    os.symlink(victim, folder / ".lock")
    one_error_line(script("logistic_sgd.py", "--dataset", small_mnist, "--output-folder",
                          str(folder), *LOGISTIC), "cannot write there")
    assert victim.read_text() == "precious"


# --- 2. checkpoints that would be lost ---------------------------------------

def interrupted_run(small_mnist, folder):
    """A MLP run killed after its first checkpoint: an unfinished run."""
    cmd = command("mlp.py", small_mnist, folder, "--n-epochs", "50")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (folder / "checkpoint.npz").exists():
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return (folder / "checkpoint.npz").read_bytes()


def test_an_unfinished_run_is_not_replaced_without_a_word(small_mnist, tmp_path):
    folder = tmp_path / "out"
    saved = interrupted_run(small_mnist, folder)
    refused = run(command("mlp.py", small_mnist, folder, "--n-epochs", "50"))
    one_error_line(refused, "holds an unfinished run", "--resume", "--restart")
    assert (folder / "checkpoint.npz").read_bytes() == saved
    # --restart keeps it aside and says where
    restarted = run(command("mlp.py", small_mnist, folder, "--n-epochs", "1", "--restart"))
    assert restarted.returncode == 0, restarted.stderr
    [kept] = [n for n in os.listdir(folder) if ".kept-" in n]
    assert (folder / kept).read_bytes() == saved
    assert f"is kept as {folder / kept}" in restarted.stderr
    assert run(command("mlp.py", small_mnist, folder, "--resume", "--restart")).returncode == 1


def test_a_finished_run_may_be_run_again(trained, small_mnist, tmp_path):
    """As make run twice in a row does."""
    folder = copy_run(trained, tmp_path)
    again = script("logistic_sgd.py", "--dataset", small_mnist, "--output-folder", str(folder),
                   *LOGISTIC)
    assert again.returncode == 0, again.stderr


def test_two_runs_in_one_folder(small_mnist, tmp_path):
    folder = tmp_path / "out"
    first = subprocess.Popen(command("mlp.py", small_mnist, folder, "--n-epochs", "50"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (folder / ".lock").exists() or not (folder / ".lock").read_text():
            assert time.time() < deadline
            time.sleep(0.05)
        second = run(command("mlp.py", small_mnist, folder, "--n-epochs", "50"))
        one_error_line(second, "in use by another run", f"process {first.pid}")
    finally:
        first.kill()
        first.wait()


def test_resume_with_nothing_to_resume_fails_before_loading(tmp_path):
    done = script("dA.py", "--output-folder", str(tmp_path), "--resume", timeout=60)
    one_error_line(done, "no checkpoint to resume from")
    assert "... loading data" not in done.stdout


# --- 3. batch sizes ------------------------------------------------------------

@pytest.mark.parametrize("name, flags", [
    ("logistic_sgd.py", ["--batch-size", "200"]),     # 120 validation examples
    ("mlp.py", ["--batch-size", "110"]),              # 100 test examples
    ("SdA.py", ["--batch-size", "150", "--hidden-layers-sizes", "10",
                "--corruption-levels", "0.1"]),
])
def test_a_batch_larger_than_a_split(name, flags, small_mnist, tmp_path):
    done = script(name, "--dataset", small_mnist, "--output-folder", str(tmp_path), *flags)
    one_error_line(done, "is larger than the", "not one minibatch would fit")


# --- 4. and 8. damaged checkpoints and saved models ----------------------------

def rewrite_npz(path, change):
    """Read path's members, let change(members) edit the dict, write it back."""
    with numpy.load(path, allow_pickle=False) as data:
        members = {k: data[k] for k in data.files}
    change(members)
    numpy.savez(path, **members)


def edit_state(**fields):
    def change(members):
        state = json.loads(str(members["state"]))
        state.update(fields)
        members["state"] = numpy.array(json.dumps(state))
    return change


def drop(name):
    return lambda members: members.pop(name)


def set_member(name, value):
    return lambda members: members.__setitem__(name, value)


CHECKPOINT_CASES = {
    "missing W": (drop("var/W"), "missing var/W"),
    "unexpected member": (set_member("extra", numpy.zeros(3)), "unexpected extra"),
    "W of another shape": (set_member("var/W", numpy.zeros((10, 10))),
                           "expected floats of shape (784, 10)"),
    "W of ints": (set_member("var/W", numpy.zeros((784, 10), dtype=numpy.int8)),
                  "expected floats of shape (784, 10)"),
    "NaN weights": (set_member("var/W", numpy.full((784, 10), numpy.nan)), "NaN or infinite"),
    "state missing": (drop("state"), "missing state"),
    "empty state": (set_member("state", numpy.array("{}")), "epoch is missing"),
    "negative epoch": (edit_state(epoch=-1000000), "epoch should be a count"),
    "huge epoch": (edit_state(epoch=10 ** 15), "epoch should be a count"),
    "epoch a string": (edit_state(epoch="3"), "epoch should be a count"),
    "done a string": (edit_state(done_looping="no"), "done_looping should be true or false"),
    "NaN best": (edit_state(best_validation_loss=float("nan")), "best_validation_loss should"),
    "history of strings": (edit_state(history=[["a", 1]]), "history should hold finite"),
    "state not JSON": (set_member("state", numpy.array("{not json")), "damaged checkpoint"),
    "state a list": (set_member("state", numpy.array("[1, 2]")), "not a record"),
    "config not JSON": (set_member("config", numpy.array("[")), "damaged checkpoint"),
}


@pytest.mark.parametrize("case", sorted(CHECKPOINT_CASES))
def test_a_damaged_checkpoint_is_one_line(case, trained, small_mnist, tmp_path):
    change, fragment = CHECKPOINT_CASES[case]
    folder = copy_run(trained, tmp_path)
    rewrite_npz(folder / "checkpoint.npz", change)
    done = script("logistic_sgd.py", "--dataset", small_mnist, "--output-folder", str(folder),
                  *LOGISTIC, "--resume")
    line = one_error_line(done, fragment)
    assert str(folder / "checkpoint.npz") in line


def bomb(path, name, size):
    """path, with its member name replaced by one that inflates to size bytes."""
    with zipfile.ZipFile(path) as original:
        others = {info.filename: original.read(info) for info in original.infolist()
                  if info.filename != name + ".npy"}
    header = b"\x93NUMPY\x01\x00" + b"v" * 118
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for filename, data in others.items():
            archive.writestr(filename, data)
        with archive.open(name + ".npy", "w", force_zip64=True) as member:
            member.write(header)
            chunk = b"\0" * (1 << 20)
            for _ in range(size // len(chunk)):
                member.write(chunk)


def test_a_compressed_bomb_is_refused_before_reading(trained, small_mnist, tmp_path):
    folder = copy_run(trained, tmp_path)
    bomb(folder / "checkpoint.npz", "state", 300 << 20)
    assert os.path.getsize(folder / "checkpoint.npz") < 2 << 20
    done = script("logistic_sgd.py", "--dataset", small_mnist, "--output-folder", str(folder),
                  *LOGISTIC, "--resume")
    one_error_line(done, "would unpack to")


@pytest.mark.parametrize("damage", ["truncated", "not a zip", "a folder", "a FIFO"])
def test_a_damaged_file_is_one_line(damage, trained, small_mnist, tmp_path):
    folder = copy_run(trained, tmp_path)
    path = folder / "checkpoint.npz"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "not a zip":
        path.write_bytes(b"hello" * 100)
    elif damage == "a folder":
        path.unlink()
        path.mkdir()
    else:
        path.unlink()
        os.mkfifo(path)
    done = script("logistic_sgd.py", "--dataset", small_mnist, "--output-folder", str(folder),
                  *LOGISTIC, "--resume", timeout=60)
    one_error_line(done, str(path))


MODEL_CASES = {
    "W missing": (drop("W"), "missing W"),
    "1-D W": (set_member("W", numpy.zeros(7840)), "expected floats of shape (784, 10)"),
    "NaN model": (set_member("W", numpy.full((784, 10), numpy.nan)), "NaN or infinite"),
    "object member": (set_member("b", numpy.array([None] * 10, dtype=object)), "damaged"),
}


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_predict_checks_the_saved_model(case, trained, tmp_path):
    change, fragment = MODEL_CASES[case]
    folder = copy_run(trained, tmp_path)
    if case == "object member":
        with numpy.load(folder / "best_model.npz") as data:
            members = {k: data[k] for k in data.files}
        members["b"] = numpy.array([None] * 10, dtype=object)
        numpy.savez(folder / "best_model.npz", **members)   # pickles b
    else:
        rewrite_npz(folder / "best_model.npz", change)
    done = script("logistic_sgd.py", "--predict", "--output-folder", str(folder), timeout=60)
    one_error_line(done, fragment)


def test_predict_truncated_model(trained, tmp_path):
    folder = copy_run(trained, tmp_path)
    path = folder / "best_model.npz"
    path.write_bytes(path.read_bytes()[:500])
    one_error_line(script("logistic_sgd.py", "--predict", "--output-folder", str(folder),
                          timeout=60), "damaged saved model")


# --- 5. divergence ---------------------------------------------------------------

def test_divergence_says_where_and_what_to_do(trained, small_mnist, tmp_path):
    folder = copy_run(trained, tmp_path)
    saved = (folder / "checkpoint.npz").read_bytes()
    done = script("logistic_sgd.py", "--dataset", small_mnist, "--output-folder", str(folder),
                  "--n-epochs", "2", "--batch-size", "100", "--floatX", "float32",
                  "--learning-rate", "1e38")
    line = one_error_line(done, "NaN or infinite", "learning rate is probably too large",
                          "start afresh with a smaller one")
    assert "best_model.npz" in line or "checkpoint" in line
    assert (folder / "checkpoint.npz").read_bytes() == saved


# --- 6. output folders --------------------------------------------------------------

def test_output_folder_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    for folder in (tmp_path / "file", tmp_path / "file" / "under"):
        one_error_line(script("dA.py", "--output-folder", str(folder), timeout=60),
                       str(folder), "cannot write there")


def test_read_only_output_folder(tmp_path):
    if os.geteuid() == 0:
        # root writes through permissions: a read-only mount is what stops it
        folder = "/proc/self"
    else:
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o500)
    one_error_line(script("dA.py", "--output-folder", str(folder), timeout=60),
                   "cannot write there")


def test_a_full_disk_is_one_line_and_leaves_nothing(trained, tmp_path):
    """/dev/full answers every write with ENOSPC: as a full disk does."""
    sys.path.insert(0, CODE)
    import machinery
    folder = tmp_path / "out"
    folder.mkdir()

    def write(f):
        with open("/dev/full", "wb") as full:
            full.write(b"x" * 100000)
            full.flush()
    with pytest.raises(machinery.OutputError, match="cannot write it"):
        machinery.write_atomically(str(folder / "checkpoint.npz"), write)
    assert os.listdir(folder) == []


# --- 7. reads -------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "folder without files"])
def test_special_files_as_dataset(target, tmp_path):
    if target == "fifo":
        target = str(tmp_path / "fifo")
        os.mkfifo(target)
    elif target == "folder without files":
        target = str(tmp_path)
    done = script("dA.py", "--dataset", target, "--output-folder", str(tmp_path / "out"),
                  timeout=60)
    one_error_line(done, target)


@pytest.mark.parametrize("line, fragment", [
    ("0" * 64 + "  /etc/passwd", "not a plain file name"),
    ("0" * 64 + "  ../mnist/x.gz", "not a plain file name"),
    ("justoneword", "not a sha256sum line"),
])
def test_sha256sums_name_only_files_beside_it(line, fragment, tmp_path, mnist):
    folder = write_idx_folder(tmp_path / "d", mnist)
    with open(os.path.join(folder, "SHA256SUMS"), "w") as f:
        f.write(line + "\n")
    with pytest.raises(DatasetError, match=fragment):
        load_mnist(folder)


def test_sha256sums_in_both_forms(tmp_path, mnist):
    import hashlib
    folder = write_idx_folder(tmp_path / "d", mnist)
    names = sorted(n for n in os.listdir(folder) if n.endswith(".gz"))
    lines = []
    for i, name in enumerate(names):
        digest = hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
        lines.append(f"{digest} {'*' if i % 2 else ' '}{name}")
    with open(os.path.join(folder, "SHA256SUMS"), "w") as f:
        f.write("\n".join(lines) + "\n")
    assert len(load_mnist(folder)[0][0]) == 600
    with open(os.path.join(folder, "SHA256SUMS"), "w") as f:
        f.write(lines[0].replace(lines[0][:8], "00000000") + "\n")
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_mnist(folder)


# --- 9. --mode ---------------------------------------------------------------------------

@pytest.mark.parametrize("mode, fragment", [
    ("fast_run", "unknown PyTensor mode 'fast_run'"),
    ("bogus", "unknown PyTensor mode"),
    ("JAX", "needs the jax package"),
    ("C", "needs a BLAS library"),
])
def test_modes_that_cannot_run_here(mode, fragment, tmp_path):
    import importlib.util
    import pytensor
    if mode == "JAX" and importlib.util.find_spec("jax"):
        fragment = None
    import warnings
    with warnings.catch_warnings():   # PyTensor says at length that it found no BLAS
        warnings.simplefilter("ignore")
        if mode == "C" and pytensor.config.blas__ldflags:
            fragment = None
    done = script("dA.py", "--mode", mode, "--training-epochs", "1",
                  "--output-folder", str(tmp_path), "--dataset", str(tmp_path / "none"),
                  timeout=120)
    if fragment is None:   # the mode is usable here: the run gets as far as the data
        one_error_line(done, "no such file")
    else:
        one_error_line(done, fragment)
        assert "... loading data" not in done.stdout


# --- 10. absurd sizes -----------------------------------------------------------------------

@pytest.mark.parametrize("name, flags", [
    ("mlp.py", ["--n-hidden", "1000000000"]),
    ("SdA.py", ["--hidden-layers-sizes", "100000", "100000", "--corruption-levels", "0.1",
                "0.2"]),
])
def test_absurd_sizes(name, flags, tmp_path):
    done = script(name, *flags, "--output-folder", str(tmp_path), timeout=60)
    one_error_line(done, "parameters and would need about")
    assert "... loading data" not in done.stdout


# --- 13. the small ones ----------------------------------------------------------------------

def test_a_protocol_5_pickle_loads(tmp_path, mnist):
    small = tuple((x[:50], y[:50]) for x, y in mnist)
    path = tmp_path / "mnist5.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(small, f, protocol=5)
    loaded = load_mnist(str(path))
    for (x, y), (ex, ey) in zip(loaded, small):
        numpy.testing.assert_array_equal(x, ex)
        numpy.testing.assert_array_equal(y, ey)


def test_a_stray_mnist_pkl_gz_in_the_working_directory_is_not_used(tmp_path):
    (tmp_path / "mnist.pkl.gz").write_bytes(b"not mnist at all")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert len(load_mnist("mnist.pkl.gz")[0][0]) == 50000    # the bundled copy
        with pytest.raises(DatasetError, match="mnist.pkl.gz"):
            load_mnist("./mnist.pkl.gz")                          # the file named
    finally:
        os.chdir(cwd)


def test_the_loaded_file_is_named(small_mnist, tmp_path):
    done = run(command("dA.py", small_mnist, tmp_path, "--training-epochs", "1"))
    assert done.returncode == 0
    assert done.stderr.splitlines()[0] == f"  (MNIST from {small_mnist})"


def test_an_empty_dataset_flag(tmp_path):
    one_error_line(script("dA.py", "--dataset", "", "--output-folder", str(tmp_path),
                          timeout=60), "--dataset is empty")


def test_zero_pretraining_epochs_on_the_command_line(small_mnist, tmp_path):
    done = run(command("SdA.py", small_mnist, tmp_path, "--pretraining-epochs", "0",
                       "--training-epochs", "1"))
    assert done.returncode == 0, done.stderr
    assert "Pre-training layer" not in done.stdout


def test_bad_json_in_a_checkpoint_names_the_file(trained, small_mnist, tmp_path):
    folder = copy_run(trained, tmp_path)
    rewrite_npz(folder / "checkpoint.npz", set_member("config", numpy.array("{")))
    line = one_error_line(script("logistic_sgd.py", "--dataset", small_mnist, "--output-folder",
                                 str(folder), *LOGISTIC, "--resume"))
    assert str(folder / "checkpoint.npz") in line


