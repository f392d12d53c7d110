"""Every script: --help names its flags, and a bad value gets one line, fast."""
import os
import subprocess
import sys

import pytest

from conftest import CODE

FLAGS = {
    "logistic_sgd.py": ["--learning-rate", "--n-epochs", "--batch-size", "--predict"],
    "logistic_cg.py": ["--n-epochs"],
    "mlp.py": ["--learning-rate", "--L1-reg", "--L2-reg", "--n-epochs", "--batch-size",
               "--n-hidden"],
    "dA.py": ["--learning-rate", "--training-epochs", "--batch-size"],
    "convolutional_mlp.py": ["--learning-rate", "--n-epochs", "--batch-size", "--nkerns"],
    "SdA.py": ["--finetune-lr", "--pretraining-epochs", "--pretrain-lr", "--training-epochs",
               "--batch-size", "--hidden-layers-sizes", "--corruption-levels"],
}
COMMON = ["--dataset", "--output-folder", "--mode", "--floatX", "--no-speedups", "--quiet"]

BAD = [
    ("logistic_sgd.py", ["--learning-rate", "-1"], "--learning-rate"),
    ("logistic_sgd.py", ["--batch-size", "0"], "--batch-size"),
    ("logistic_cg.py", ["--n-epochs", "0"], "--n-epochs"),
    ("logistic_cg.py", ["--resume"], "unrecognized arguments: --resume"),
    ("mlp.py", ["--L2-reg", "-0.1"], "--L2-reg"),
    ("mlp.py", ["--n-hidden", "abc"], "--n-hidden"),
    ("dA.py", ["--training-epochs", "0"], "--training-epochs"),
    ("dA.py", ["--floatX", "float16"], "--floatX"),
    ("convolutional_mlp.py", ["--nkerns", "5"], "--nkerns"),
    ("convolutional_mlp.py", ["--nkerns", "5", "0"], "--nkerns"),
    ("SdA.py", ["--corruption-levels", "0.1", "0.2"], "one per layer"),
    ("SdA.py", ["--corruption-levels", "0.1", "0.2", "1.0"], "[0, 1)"),
    ("SdA.py", ["--pretrain-lr", "nan"], "--pretrain-lr"),
    ("SdA.py", ["--pretraining-epochs", "-1"], "--pretraining-epochs"),
]


def run(script, *args, cwd=None):
    return subprocess.run([sys.executable, os.path.join(CODE, script), *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("script", sorted(FLAGS))
def test_help_lists_every_flag(script, tmp_path):
    # from another working directory: the scripts find utils and the data themselves
    helped = run(script, "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    for flag in FLAGS[script] + COMMON:
        assert flag in helped.stdout
    # conjugate gradient keeps its search directions in SciPy: nothing to resume
    assert ("--resume" in helped.stdout) == (script != "logistic_cg.py")


@pytest.mark.parametrize("script, args, fragment", BAD)
def test_bad_values_get_one_line(script, args, fragment):
    result = run(script, *args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0] and fragment in lines[0], result.stderr
