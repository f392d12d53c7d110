"""Kill a training run for real, resume it, and get the uninterrupted figures.

Each script runs as a subprocess on a slice of MNIST. One run goes through
uninterrupted; another is killed (SIGKILL: no chance to save anything) at a
random moment after its first checkpoint, then resumed with --resume. A
resumed run repeats the epoch the kill cut short; after that, its printed
figures must be the uninterrupted run's, line for line.
"""
import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy
import pytest

from conftest import CODE, SLICE_ARGS, command, figures, run

def start_and_kill(cmd, folder, sig, delay):
    """Start cmd, wait for its first checkpoint, wait delay seconds more, then
    send sig. Returns (returncode, stdout, stderr), or None if the run ended first."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not glob.glob(os.path.join(folder, "checkpoint*.npz")):
        assert proc.poll() is None, "run ended before its first checkpoint"
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    time.sleep(delay)
    if proc.poll() is not None:
        proc.communicate()
        return None
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        return None         # it finished between the poll and the signal
    return proc.returncode, out, err


def kill_at_random(cmd, folder, sig, rng, window):
    """Kill the run at a random moment after its first checkpoint. The window
    comes from the uninterrupted run's length; if the run still ends first
    (a warm compile cache makes it fast), try again with a shorter window."""
    for _ in range(5):
        shutil.rmtree(folder)
        os.makedirs(folder)
        result = start_and_kill(cmd, folder, sig, rng.uniform(0.0, window))
        if result is not None:
            return result
        window /= 3
    pytest.fail("the run always finished before it could be killed")


@pytest.mark.parametrize("script", sorted(SLICE_ARGS))
def test_sigkill_then_resume_gives_the_same_figures(script, small_mnist, tmp_path,
                                                    uninterrupted):
    expected, full_folder, seconds, _ = uninterrupted(script)
    seed = random.randrange(10 ** 6)
    code, out, err = kill_at_random(command(script, small_mnist, tmp_path), tmp_path,
                                    signal.SIGKILL, random.Random(seed), seconds / 2)
    assert code == -signal.SIGKILL, f"seed {seed}: {err}"
    resumed = run(command(script, small_mnist, tmp_path, "--resume"))
    assert resumed.returncode == 0, f"seed {seed}: {resumed.stderr}"
    assert "... resuming from" in resumed.stderr
    # what was printed before the kill, then after the resume, minus the
    # repeats of work the kill threw away, is the uninterrupted output
    before, after = figures(out), figures(resumed.stdout)
    assert after == expected[len(expected) - len(after):], f"seed {seed}"
    assert set(before) | set(after) == set(expected), f"seed {seed}"
    for picture in glob.glob(os.path.join(full_folder, "*.png")):
        with open(picture, "rb") as a, open(tmp_path / os.path.basename(picture), "rb") as b:
            assert a.read() == b.read(), f"seed {seed}: {picture} differs"


def test_sigterm_stops_at_once_and_resumes(small_mnist, tmp_path, uninterrupted):
    script = "SdA.py"
    expected, _, seconds, _ = uninterrupted(script)
    code, out, err = kill_at_random(command(script, small_mnist, tmp_path), tmp_path,
                                    signal.SIGTERM, random.Random(1), seconds / 2)
    assert code == 130
    assert err.strip().splitlines()[-1] == (
        f"interrupted: the checkpoint of the last finished epoch is in {tmp_path}/checkpoint.npz;"
        " run again with --resume to continue")
    resumed = run(command(script, small_mnist, tmp_path, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    after = figures(resumed.stdout)
    assert after == expected[len(expected) - len(after):]
    assert set(figures(out)) | set(after) == set(expected)


def test_checkpoint_of_another_configuration_is_refused(small_mnist, tmp_path):
    first = run(command("mlp.py", small_mnist, tmp_path, "--n-epochs", "1"))
    assert first.returncode == 0, first.stderr
    other = run(command("mlp.py", small_mnist, tmp_path, "--n-epochs", "1",
                        "--n-hidden", "30", "--resume"))
    assert other.returncode == 1
    lines = [line for line in other.stderr.splitlines() if not line.startswith("  (")]
    assert len(lines) == 1
    assert "another configuration" in lines[0] and "n_hidden: saved 40, now 30" in lines[0]


def test_resume_without_a_checkpoint_says_so(small_mnist, tmp_path):
    done = run(command("dA.py", small_mnist, tmp_path, "--resume"))
    assert done.returncode == 1
    assert "no checkpoint to resume from" in done.stderr


def test_diverging_run_stops_with_a_clear_message(small_mnist, tmp_path):
    # one sane epoch that leaves a checkpoint, then a step so large that
    # float32 weights overflow
    sane = run(command("logistic_sgd.py", small_mnist, tmp_path, "--n-epochs", "1"))
    assert sane.returncode == 0, sane.stderr
    saved = (tmp_path / "checkpoint.npz").read_bytes()
    done = run(command("logistic_sgd.py", small_mnist, tmp_path, "--floatX", "float32",
                       "--learning-rate", "1e38"))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "NaN or infinite" in last
    assert "learning rate is probably too large" in last
    # neither the checkpoint nor the best model took the diverged weights
    assert (tmp_path / "checkpoint.npz").read_bytes() == saved
    assert numpy.isfinite(numpy.load(tmp_path / "best_model.npz")["W"]).all()


def test_predict_without_training_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, os.path.join(CODE, "logistic_sgd.py"), "--predict",
                           "--output-folder", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: {tmp_path}/best_model.npz: no saved model; train first "
        "(python code/logistic_sgd.py)"]


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.6, 0.9])
def test_ctrl_c_at_any_moment_is_one_line(fraction, small_mnist, tmp_path, uninterrupted):
    """SIGINT, once the script runs, while loading, compiling, in a compiled function's first call
    (where Numba wraps the KeyboardInterrupt in SystemErrors) or training:
    exit 130 and one line saying what is kept, never a traceback."""
    _, _, seconds, _ = uninterrupted("mlp.py")
    proc = subprocess.Popen(command("mlp.py", small_mnist, tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    # once the script runs (its first line: after Python has imported it all)
    assert proc.stdout.readline() == "... loading data\n"
    time.sleep(fraction * seconds)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err[-3000:]
    if "Optimization complete" in out:   # it had finished: the signal met its exit
        assert proc.returncode in (0, -signal.SIGINT, 130)
        return
    assert proc.returncode == 130, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted"), err[-3000:]
