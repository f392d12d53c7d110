"""The docs and the code agree: included snippets exist, quoted commands use
real flags, figures exist, and the Sphinx build has no warning."""
import glob
import os
import re
import subprocess
import sys

import pytest

from conftest import CODE, ROOT

DOCS = os.path.join(ROOT, "docs")
CHAPTERS = sorted(glob.glob(os.path.join(DOCS, "*.md")))
INCLUDE = re.compile(r"```\{literalinclude\}\s+(\S+)\n((?::\S+:.*\n)*)")
OPTION = re.compile(r":(\S+):\s*(.*)")
COMMAND = re.compile(r"python (?:\S*/)?code/(\w+\.py)((?: [^\n`|]*)?)")
IMAGE = re.compile(r"```\{image\}\s+(\S+)")


def includes():
    for chapter in CHAPTERS:
        text = open(chapter).read()
        for match in INCLUDE.finditer(text):
            options = dict(OPTION.match(line).groups()
                           for line in match.group(2).splitlines())
            yield chapter, os.path.normpath(os.path.join(DOCS, match.group(1))), options


def test_chapters_exist_and_include_code():
    names = {os.path.basename(c) for c in CHAPTERS}
    for name in ("index.md", "gettingstarted.md", "logreg.md", "mlp.md", "lenet.md", "dA.md",
                 "SdA.md",
                 "utilities.md", "theano_to_pytensor.md", "results.md"):
        assert name in names
    included = {os.path.basename(path) for _, path, _ in includes()}
    assert {"logistic_sgd.py", "logistic_cg.py", "mlp.py", "convolutional_mlp.py", "dA.py",
            "SdA.py", "utils.py"} <= included


def test_every_included_marker_exists_once_in_its_script():
    seen = 0
    for chapter, path, options in includes():
        assert os.path.exists(path), f"{chapter}: {path} does not exist"
        lines = open(path).read().splitlines()
        for key in ("start-after", "end-before"):
            if key in options:
                marker = options[key]
                hits = [l for l in lines if marker in l]
                assert len(hits) == 1, f"{chapter}: marker {marker!r} found {len(hits)} times in {path}"
                assert hits[0].strip() == "# " + marker, f"{marker!r} is not a marker line"
                seen += 1
    assert seen > 20


def test_markers_in_the_code_come_in_pairs():
    for path in glob.glob(os.path.join(CODE, "*.py")):
        text = open(path).read()
        starts = re.findall(r"# start-snippet-([\w-]+)", text)
        ends = re.findall(r"# end-snippet-([\w-]+)", text)
        assert sorted(starts) == sorted(ends), path
        assert len(set(starts)) == len(starts), path
        for name in starts:
            assert text.index("# start-snippet-" + name) < text.index("# end-snippet-" + name)


def _flags(script):
    helped = subprocess.run([sys.executable, os.path.join(CODE, script), "--help"],
                            capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0
    return set(re.findall(r"--[\w-]+", helped.stdout))


def test_quoted_commands_use_real_flags():
    flags = {}
    quoted = 0
    for chapter in CHAPTERS + [os.path.join(ROOT, "README.md")]:
        for script, args in COMMAND.findall(open(chapter).read()):
            assert os.path.exists(os.path.join(CODE, script)), f"{chapter}: no code/{script}"
            if script not in flags:
                flags[script] = _flags(script)
            for flag in re.findall(r"(?<!\S)--[\w-]+", args):
                assert flag in flags[script], f"{chapter}: {script} has no flag {flag}"
                quoted += 1
    assert quoted > 10


def test_images_exist():
    for chapter in CHAPTERS:
        for image in IMAGE.findall(open(chapter).read()):
            assert os.path.exists(os.path.join(DOCS, image)), f"{chapter}: missing {image}"


def test_sphinx_build_has_no_warning(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         DOCS, str(tmp_path / "html")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    index = (tmp_path / "html" / "index.html").read_text()
    assert "Deep Learning Tutorials" in index
    dA = (tmp_path / "html" / "dA.html").read_text()
    assert "get_corrupted_input" in dA and "filters_corruption_30.png" in dA
    assert (tmp_path / "html" / "_static" / "mathjax" / "tex-chtml.js").exists()
