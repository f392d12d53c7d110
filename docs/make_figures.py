"""Regenerate the figures of the docs from the project's own code and runs.

    python docs/make_figures.py            # MNIST samples + curves from docs/runs/*.log
    python docs/make_figures.py --run      # also rerun logistic_sgd.py and dA.py (~5 min)

The curves are drawn from the printed output of real runs, kept in
docs/runs/; the filter pictures are those the dA run wrote, and LeNet's
(lenet_filters.png, lenet_feature_maps.png) those its full run wrote.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "code"))

from PIL import Image  # noqa: E402

import utils  # noqa: E402

FIGURES = os.path.join(HERE, "_static", "figures")
RUNS = os.path.join(HERE, "runs")

VALIDATION = re.compile(r"^epoch (\d+), minibatch (\d+)/(\d+), validation error ([\d.]+) %")
CG_VALIDATION = re.compile(r"^validation error ([\d.]+) %")
DA_COST = re.compile(r"^Training epoch (\d+), cost\s+(\S+)")
PRETRAIN_COST = re.compile(r"^Pre-training layer (\d+), epoch (\d+), cost\s+(\S+)")


def read_log(name):
    path = os.path.join(RUNS, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read().splitlines()


def validation_curve(lines):
    xs, ys = [], []
    for line in lines:
        m = VALIDATION.match(line)
        if m:
            epoch, batch, n_batches, err = m.groups()
            xs.append(int(epoch) - 1 + int(batch) / int(n_batches))
            ys.append(float(err))
    return xs, ys


def mnist_samples():
    """The first 100 training digits, as the tutorials' loader hands them out."""
    (train_x, _), _, _ = utils.load_mnist()
    tiles = utils.tile_raster_images(train_x[:100], img_shape=(28, 28), tile_shape=(10, 10),
                                     tile_spacing=(1, 1))
    Image.fromarray(tiles).save(os.path.join(FIGURES, "mnist_samples.png"))


def rerun(script, folder, *args):
    subprocess.run([sys.executable, os.path.join(ROOT, "code", script),
                    "--output-folder", folder, *args], check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true",
                        help="rerun logistic_sgd.py and dA.py at their defaults first, "
                             "logging into docs/runs/")
    args = parser.parse_args()
    os.makedirs(FIGURES, exist_ok=True)
    mnist_samples()

    build = os.path.join(HERE, "_build", "runs")
    if args.run:
        for script, log in (("logistic_sgd.py", "logistic_sgd.log"), ("dA.py", "dA.log")):
            with open(os.path.join(RUNS, log), "w") as out:
                subprocess.run([sys.executable, os.path.join(ROOT, "code", script),
                                "--output-folder", os.path.join(build, script[:-3])],
                               check=True, stdout=out)
        for name in ("filters_corruption_0.png", "filters_corruption_30.png"):
            shutil.copy(os.path.join(build, "dA", name), os.path.join(FIGURES, name))

    for log, title, out in (("logistic_sgd.log", "Logistic regression", "logistic_validation.png"),
                            ("mlp.log", "Multilayer perceptron", "mlp_validation.png"),
                            ("convolutional_mlp.log", "LeNet", "lenet_validation.png"),
                            ("SdA.log", "SdA fine-tuning", "SdA_validation.png")):
        lines = read_log(log)
        if lines and validation_curve(lines)[0]:
            utils.plot_curves(os.path.join(FIGURES, out), {"validation": validation_curve(lines)},
                              "epoch", "validation error (%)", title + " on MNIST")

    sgd, cg = read_log("logistic_sgd.log"), read_log("logistic_cg.log")
    if sgd and cg:
        cg_errors = [float(m.group(1)) for m in map(CG_VALIDATION.match, cg) if m]
        utils.plot_curves(os.path.join(FIGURES, "logistic_sgd_and_cg.png"),
                          {"minibatch SGD, per epoch": validation_curve(sgd),
                           "conjugate gradient, per iteration":
                               (list(range(1, len(cg_errors) + 1)), cg_errors)},
                          "epoch (SGD) or iteration (CG)", "validation error (%)",
                          "Logistic regression: SGD and conjugate gradient")

    lines = read_log("dA.log")
    if lines:
        curves, current = {}, None
        for line in lines:
            m = DA_COST.match(line)
            if m:
                if m.group(1) == "0":   # a new model starts
                    current = ["0 % corruption", "30 % corruption"][len(curves)]
                    curves[current] = ([], [])
                curves[current][0].append(int(m.group(1)))
                curves[current][1].append(float(m.group(2)))
        utils.plot_curves(os.path.join(FIGURES, "dA_cost.png"), curves, "epoch",
                          "mean reconstruction cost", "Denoising autoencoders on MNIST")

    lines = read_log("SdA.log")
    if lines:
        curves = {}
        for line in lines:
            m = PRETRAIN_COST.match(line)
            if m:
                xs, ys = curves.setdefault(f"layer {m.group(1)}", ([], []))
                xs.append(int(m.group(2)))
                ys.append(float(m.group(3)))
        if curves:
            utils.plot_curves(os.path.join(FIGURES, "SdA_pretraining_cost.png"), curves,
                              "epoch", "mean reconstruction cost", "SdA pre-training")
    print("figures in", FIGURES, ":", ", ".join(sorted(os.listdir(FIGURES))))


if __name__ == "__main__":
    main()
