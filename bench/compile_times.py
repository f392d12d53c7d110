"""How long each script spends compiling the first time it runs.

    python bench/compile_times.py

Each script runs twice with a few short epochs, both times with a PyTensor
compile directory and a Numba cache of its own that start empty: the first run
compiles everything (PyTensor's graphs and the Numba code under them), the
second finds it all cached. The difference between the two wall-clock times is
the first compile. (SdA runs at batch size 500 here so that its epochs take
seconds; the graphs are the same as at batch size 1, the batch size is only a
constant in them.)
"""
import os
import subprocess
import sys
import tempfile
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
CODE = os.path.join(HERE, os.pardir, "code")

RUNS = [
    ("logistic_sgd.py", ["--n-epochs", "1"]),
    ("mlp.py", ["--n-epochs", "1"]),
    ("dA.py", ["--training-epochs", "1"]),
    ("SdA.py", ["--pretraining-epochs", "1", "--training-epochs", "1", "--batch-size", "500"]),
]


def timed_run(script, args, cache, output):
    env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(cache, "numba"),
               PYTENSOR_FLAGS=f"base_compiledir={os.path.join(cache, 'pytensor')}")
    start = timeit.default_timer()
    subprocess.run([sys.executable, os.path.join(CODE, script), *args,
                    "--output-folder", output],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    return timeit.default_timer() - start


def main():
    print(f"{'script':16s} {'first run':>10s} {'cached':>10s} {'compiling':>10s}")
    for script, args in RUNS:
        with tempfile.TemporaryDirectory() as cache:
            cold = timed_run(script, args, cache, os.path.join(cache, "out1"))
            warm = timed_run(script, args, cache, os.path.join(cache, "out2"))
        print(f"{script:16s} {cold:9.1f}s {warm:9.1f}s {cold - warm:9.1f}s", flush=True)


if __name__ == "__main__":
    main()
