"""How long each script spends compiling the first time it runs.

    python bench/compile_times.py

Each script runs twice with a few short epochs, both times with a PyTensor
compile directory and a Numba cache of its own that start empty: the first run
compiles everything (PyTensor's graphs and the Numba code under them), the
second finds it all cached. The difference between the two wall-clock times is
the first compile. (SdA runs at batch size 500 here so that its epochs take
seconds; the graphs are the same as at batch size 1, the batch size is only a
constant in them.)

    python bench/compile_times.py --by-function logistic_sgd.py

runs one script once, with empty caches, and prints how long Numba took to
compile each of the script's compiled functions, in the order they were first
called (the Numba code of the ops inside a function is compiled with it, so
the first function also pays for the library code the others share).
"""
import argparse
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


# Run inside the script's process: time each outermost Numba compile, which
# is one whole PyTensor function with everything it calls.
BY_FUNCTION = """
import os, runpy, sys, time
import numba.core.dispatcher as dispatcher
compile_one, depth = dispatcher.Dispatcher.compile, [0]
def timed(self, sig):
    depth[0] += 1
    start = time.perf_counter()
    try:
        return compile_one(self, sig)
    finally:
        depth[0] -= 1
        if depth[0] == 0:
            print(f"COMPILED {time.perf_counter() - start:6.2f} s",
                  file=sys.stderr, flush=True)
dispatcher.Dispatcher.compile = timed
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(sys.argv[0]))
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def by_function(script, args):
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(cache, "numba"),
                   PYTENSOR_FLAGS=f"base_compiledir={os.path.join(cache, 'pytensor')}")
        done = subprocess.run([sys.executable, "-c", BY_FUNCTION, os.path.join(CODE, script),
                               *args, "--output-folder", os.path.join(cache, "out")],
                              env=env, check=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    times = [line for line in done.stderr.splitlines() if line.startswith("COMPILED")]
    print(f"{script}: {len(times)} compiled functions, in the order of their first call")
    for line in times:
        print("  " + line[len("COMPILED "):])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--by-function", metavar="SCRIPT", choices=[s for s, _ in RUNS],
                        help="time the compile of each function of one script")
    options = parser.parse_args()
    if options.by_function:
        by_function(options.by_function, dict(RUNS)[options.by_function])
        return
    print(f"{'script':16s} {'first run':>10s} {'cached':>10s} {'compiling':>10s}")
    for script, args in RUNS:
        with tempfile.TemporaryDirectory() as cache:
            cold = timed_run(script, args, cache, os.path.join(cache, "out1"))
            warm = timed_run(script, args, cache, os.path.join(cache, "out2"))
        print(f"{script:16s} {cold:9.1f}s {warm:9.1f}s {cold - warm:9.1f}s", flush=True)


if __name__ == "__main__":
    main()
