"""The exercise checker: solutions pass, starters fail clearly, bugs are named."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, ROOT)
from exercises.checker import EXERCISES, check_class, check_file  # noqa: E402

EXERCISE_DIR = os.path.join(ROOT, "exercises")


def solution(number):
    return os.path.join(EXERCISE_DIR, "solutions", EXERCISES[number][0])


@pytest.mark.parametrize("number", sorted(EXERCISES))
def test_reference_solutions_pass_every_check(number):
    report = check_file(number, solution(number))
    assert report.total >= 5
    assert report.passed == report.total, report.text()


@pytest.mark.parametrize("number", sorted(EXERCISES))
def test_untouched_starters_fail_with_clear_messages(number):
    report = check_file(number)
    assert report.passed == 0, report.text()
    for line in report.lines:
        assert line.startswith("FAIL") and "not written yet" in line, line
    assert "Traceback" not in report.text()


def test_a_bug_is_named_precisely(tmp_path):
    # the classic mistake: summing the log-likelihood instead of averaging it
    # (the copy's own sys.path line points nowhere from tmp_path; this test
    # already made the repository importable)
    buggy = tmp_path / "ex1_losses.py"
    buggy.write_text(open(solution(1)).read().replace("return -pt.mean(log_p[",
                                                      "return -pt.sum(log_p["))
    report = check_file(1, str(buggy))
    failed = [line for line in report.lines if line.startswith("FAIL")]
    assert any("negative_log_likelihood on a fixed minibatch: expected" in l for l in failed)
    assert any("is a mean over the minibatch: expected" in l for l in failed)
    assert any(l.startswith("PASS  errors on a fixed minibatch") for l in report.lines)
    assert 0 < report.passed < report.total


def test_broken_file_and_error_in_student_code(tmp_path):
    broken = tmp_path / "ex3_corruption.py"
    broken.write_text("def oops(:\n")
    report = check_file(3, str(broken))
    assert report.lines == [report.lines[0]] and "FAIL  the file loads: SyntaxError" in report.lines[0]
    crashing = tmp_path / "ex6_pretraining.py"
    crashing.write_text(open(os.path.join(EXERCISE_DIR, "ex6_pretraining.py")).read().replace(
        'return todo("Exercise 6: pretraining_functions")', "return 1 / 0"))
    report = check_file(6, str(crashing))
    assert report.passed == 0
    assert all("your code raised ZeroDivisionError: division by zero (ex6_pretraining.py, line"
               in line for line in report.lines), report.text()


def test_a_whole_class(tmp_path):
    for student, source in (("alice", solution(3)), ("bob", os.path.join(EXERCISE_DIR,
                                                                         "ex3_corruption.py"))):
        os.makedirs(tmp_path / student)
        shutil.copy(source, tmp_path / student / "ex3_corruption.py")
    reports = check_class(str(tmp_path))
    scores = {os.path.basename(os.path.dirname(path)): (r.passed, r.total)
              for path, _, r in reports}
    assert scores == {"alice": (5, 5), "bob": (0, 5)}


def test_command_line(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "exercises", *args], cwd=ROOT,
                               capture_output=True, text=True, timeout=300)
    listed = run("list")
    assert listed.returncode == 0 and listed.stdout.count("\n") == len(EXERCISES)
    passed = run("check", "3", solution(3))
    assert passed.returncode == 0 and "score: 5/5 checks passed" in passed.stdout
    failed = run("check", "3")
    assert failed.returncode == 1 and "score: 0/5 checks passed" in failed.stdout
    assert "Traceback" not in failed.stdout + failed.stderr
    missing = run("check", "3", str(tmp_path / "nope.py"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_starter_demo_runs_up_to_the_missing_piece(tmp_path):
    done = subprocess.run([sys.executable, os.path.join(EXERCISE_DIR, "ex3_corruption.py")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "NotImplementedError: Exercise 3: get_corrupted_input is not written yet" in done.stderr


def test_demo_with_the_solution_draws_corruption(tmp_path, monkeypatch):
    import importlib.util
    from exercises import demos
    spec = importlib.util.spec_from_file_location("sol3", solution(3))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.chdir(tmp_path)
    demos.show_corruption(module.dA)
    from PIL import Image
    assert Image.open(tmp_path / "exercise_output" / "corrupted.png").size == (289, 57)


HOSTILE_STUDENTS = {
    "exits": "raise SystemExit(0)\n",
    "exits hard": "import os\nos._exit(0)\n",
    "loops": "while True:\n    pass\n",
    "rigs the report": ("import exercises.checker as c\n"
                        "c.Report.text = lambda self: 'score: 99/99 checks passed'\n"
                        "c.Report.check = lambda self, name, fn: None\n"
                        "print('PASS  everything')\n"),
}


def test_a_class_of_hostile_students(tmp_path):
    """Each file in its own process with a time limit: one that exits, hangs
    or rigs the checker spoils only its own report, each report is printed
    as it finishes, and the command fails because checks failed."""
    for student, source in HOSTILE_STUDENTS.items():
        os.makedirs(tmp_path / student)
        (tmp_path / student / "ex3_corruption.py").write_text(source)
    os.makedirs(tmp_path / "zoe")
    shutil.copy(solution(3), tmp_path / "zoe" / "ex3_corruption.py")
    reports = {os.path.basename(os.path.dirname(path)): report for path, _, report in
               check_class(str(tmp_path), time_limit=30)}
    assert (reports["zoe"].passed, reports["zoe"].total) == (5, 5)
    for student in HOSTILE_STUDENTS:
        report = reports[student]
        assert report.passed < report.total, (student, report.text())
    assert "longer than 30 s" in reports["loops"].text()
    assert "ended the checker" in reports["exits"].text()
    # on the command line: every report, the summary, and a failing exit code
    done = subprocess.run([sys.executable, "-m", "exercises", "class", str(tmp_path),
                           "--time-limit", "20"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1
    assert "5/5  exercise 3  zoe/ex3_corruption.py" in done.stdout
    assert "99/99" not in done.stdout.split("summary:")[1]
    assert done.stdout.count("score:") == len(HOSTILE_STUDENTS) + 1


def test_mean_pooling_is_caught_but_not_blamed_on_the_graph(tmp_path):
    # a classic slip in exercise 7: averaging the blocks instead of taking their maximum
    source = open(solution(7)).read().replace("blocks.max(axis=(3, 5))", "blocks.mean(axis=(3, 5))")
    student = tmp_path / "ex7_pooling.py"
    student.write_text(source)
    report = check_file(7, str(student))
    failed = [line for line in report.lines if line.startswith("FAIL")]
    assert any("2 x 2 blocks on a fixed input: expected" in line for line in failed)
    assert any("gradient goes to each block's maximum" in line for line in failed)
    assert not any("written with PyTensor operations" in line for line in failed)
