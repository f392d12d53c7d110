"""The speed-ups are a plug-in: nothing changes until a script's main()
installs them, DLT_SPEEDUPS=0 and --no-speedups keep them out, a failed
installation leaves PyTensor as it was, and the scripts print the same
figures with them and without."""
import os
import re
import sys

import pytest

import numba_speedups
from numba_speedups import _patches

from conftest import CODE, SLICE_ARGS, command, figures, run

# PyTensor's and Numba's state that a speed-up could touch, as plain data
SNAPSHOT = """
import os, sys
sys.path.insert(0, sys.argv[1])
def snapshot():
    from pytensor.compile.mode import optdb
    from numba.core import config
    from pytensor.link.numba.dispatch import basic
    registries = [sorted((c.__qualname__, f.__module__ + "." + f.__qualname__)
                         for c, f in d.registry.items())
                  for d in (basic.numba_funcify, basic.numba_funcify_default_op_cache_key,
                            basic.numba_funcify_and_cache_key)]
    rewrites = sorted(optdb._names), sorted(optdb.__position__.items())
    return repr((registries, rewrites, int(config.OPT), sorted(os.environ.items())))
"""


def snapshot_script(body):
    return SNAPSHOT + body


def test_importing_the_lessons_changes_nothing():
    done = run([sys.executable, "-c", snapshot_script("""
before = snapshot()
import utils, machinery, logistic_sgd, logistic_cg, mlp, dA, SdA, conv, convolutional_mlp
from utils import load_data
assert snapshot() == before, "importing a lesson changed PyTensor, Numba or the environment"
assert "numba_speedups" not in sys.modules
print("unchanged")
"""), CODE])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["unchanged"]


def test_install_and_uninstall_leave_no_trace():
    done = run([sys.executable, "-c", snapshot_script("""
before = snapshot()
import numba_speedups
assert numba_speedups.install() and numba_speedups.installed()
installed = snapshot()
assert installed != before
assert numba_speedups.install()          # a second call changes nothing more
assert snapshot() == installed
numba_speedups.uninstall()
assert snapshot() == before
print("restored")
"""), CODE])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["restored"]
    assert done.stderr == ""


@pytest.fixture
def fresh_plugin(monkeypatch):
    """The plug-in as if never installed or warned in this process."""
    assert not numba_speedups.installed()
    monkeypatch.setattr(numba_speedups, "_warned", False)
    monkeypatch.delenv("DLT_SPEEDUPS", raising=False)
    yield
    numba_speedups.uninstall()


def registries():
    from pytensor.compile.mode import optdb
    return ([dict(_patches._registry_dict(d)) for d in _patches.DISPATCHERS],
            sorted(optdb._names), dict(optdb.__position__))


def test_other_versions_get_one_warning_and_stock_pytensor(fresh_plugin, monkeypatch, capsys):
    monkeypatch.setitem(numba_speedups.WRITTEN_FOR, "numba", ((0, 1), (0, 2)))
    before = registries()
    assert numba_speedups.install() is False
    assert numba_speedups.install() is False
    assert registries() == before
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "written for numba 0.1" in lines[0]
    assert "running on stock PyTensor" in lines[0]


def test_an_error_while_installing_undoes_what_was_done(fresh_plugin, monkeypatch, capsys):
    """An attribute renamed in another release, say, half-way through."""
    from numba_speedups import vector_math

    def broken(patches):
        raise AttributeError("module 'pytensor' has no attribute 'renamed'")
    monkeypatch.setattr(vector_math, "install", broken)
    before = registries()
    assert numba_speedups.install() is False
    assert registries() == before and not numba_speedups.installed()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "AttributeError" in err[0] and "renamed" in err[0]


@pytest.mark.parametrize("value", ["0", "off"])
def test_the_environment_switches_them_off(fresh_plugin, monkeypatch, capsys, value):
    monkeypatch.setenv("DLT_SPEEDUPS", value)
    before = registries()
    assert numba_speedups.install() is False
    assert registries() == before
    assert capsys.readouterr().err == ""


def test_named_modules_can_be_left_out(fresh_plugin, monkeypatch, capsys):
    """DLT_SPEEDUPS_EXCLUDE leaves out the modules it names, the rest installed;
    a name that is no module is one warning and stock PyTensor."""
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key
    from pytensor.scalar.basic import Composite
    from pytensor.scalar.math import Softplus

    def module_of(op_type):
        return numba_funcify_and_cache_key.dispatch(op_type).__module__
    monkeypatch.setenv("DLT_SPEEDUPS_EXCLUDE", "inline_loops")
    assert numba_speedups.install()
    assert module_of(Softplus) == "numba_speedups.vector_math"
    assert not module_of(Composite).startswith("numba_speedups")
    numba_speedups.uninstall()
    monkeypatch.delenv("DLT_SPEEDUPS_EXCLUDE")
    assert numba_speedups.install()
    assert module_of(Composite) == "numba_speedups.inline_loops"
    numba_speedups.uninstall()
    monkeypatch.setenv("DLT_SPEEDUPS_EXCLUDE", "inline_loops, no_such_module")
    before = registries()
    assert numba_speedups.install() is False
    assert registries() == before
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no_such_module" in err[0], err


def numbers(line):
    return [float(n) for n in re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", line)]


def same_figures(with_speedups, without):
    """Every line the same; the autoencoders' costs, whose softplus the
    speed-ups compute by another formula, to within rounding."""
    assert len(with_speedups) == len(without)
    for a, b in zip(with_speedups, without):
        if a != b and "cost" in a:
            assert re.sub(r"[\d.]+", "#", a) == re.sub(r"[\d.]+", "#", b), (a, b)
            assert numbers(a) == pytest.approx(numbers(b), rel=1e-7), (a, b)
        else:
            assert a == b


@pytest.mark.parametrize("script", sorted(SLICE_ARGS))
@pytest.mark.parametrize("switch", ["--no-speedups", "DLT_SPEEDUPS=0"])
def test_the_scripts_print_the_same_figures_without_them(script, switch, small_mnist,
                                                         tmp_path, uninterrupted):
    expected, _, _, with_speedups = uninterrupted(script)
    if switch.startswith("--"):
        done = run(command(script, small_mnist, tmp_path, switch))
    else:
        done = run(command(script, small_mnist, tmp_path), env=dict(os.environ, DLT_SPEEDUPS="0"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "warning" not in done.stderr and "warning" not in with_speedups.stderr
    same_figures(expected, figures(done.stdout))


# what the original tutorials print, line by line (the SdA's fine-tuning
# and the logistic regression's prediction included)
ORIGINAL_LINE = re.compile(
    r"\.\.\. (loading data|building the model|training( the model)?|getting the "
    r"(pretraining|finetuning) functions|pre-training the model|finetunning the model)$"
    r"|(     )?epoch \d+, minibatch \d+/\d+, (validation error|test error of best model) "
    r"[\d.]+ %$"
    r"|Optimization complete.*|The code run for \d+ epochs, with [\d.]+ epochs/sec$"
    r"|Training epoch \d+, cost  [\d.]+$|Pre-training layer \d+, epoch \d+, cost \d+\.\d{6}$"
    r"|Predicted values for the first 10 examples in test set:$|\[[\d ]+\]$"
    r"|training @ iter =  \d+$"
    r"|Best validation score of [\d.]+ % obtained at iteration \d+, with test performance "
    r"[\d.]+ %$")


@pytest.mark.parametrize("script", sorted(SLICE_ARGS))
def test_stdout_holds_the_original_lines_only(script, uninterrupted):
    stdout = uninterrupted(script)[3].stdout
    for line in stdout.splitlines():
        assert ORIGINAL_LINE.match(line), f"{script} printed {line!r} on stdout"


def test_quiet_leaves_stderr_to_the_original_timing_lines(small_mnist, tmp_path):
    done = run(command("dA.py", small_mnist, tmp_path, "--quiet"))
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "The no corruption code for file dA.py ran for " + m for m in re.findall(
            r"no corruption code for file dA.py ran for (\S+)", done.stderr)] + [
        "The 30% corruption code for file dA.py ran for " + m for m in re.findall(
            r"30% corruption code for file dA.py ran for (\S+)", done.stderr)]
    noisy = run(command("dA.py", small_mnist, tmp_path / "noisy"))
    assert "since the last checkpoint" in noisy.stderr


def test_a_missing_plugin_is_one_warning(monkeypatch, capsys):
    """code/ copied somewhere numba_speedups cannot be imported from."""
    import machinery
    monkeypatch.setitem(sys.modules, "numba_speedups", None)   # import fails
    assert machinery.install_speedups() is False
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "numba_speedups not found" in lines[0]
    assert machinery.install_speedups(enabled=False) is False
    assert capsys.readouterr().err == ""
