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
the first function also pays for the library code the others share), with the
ops inside each that took half a second or more, then how much of all that
went to LLVM: optimising the code and making machine code.
Add --no-speedups to do the same on stock PyTensor, without the plug-in of
numba_speedups/ (LLVM still at its -O2), which shows what the speed-ups add to
the compile. Otherwise the scripts run as they do for a user: with the
plug-in installed by their main().
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
    ("logistic_cg.py", ["--n-epochs", "1"]),
    ("mlp.py", ["--n-epochs", "1"]),
    ("convolutional_mlp.py", ["--n-epochs", "1"]),
    ("dA.py", ["--training-epochs", "1"]),
    ("SdA.py", ["--pretraining-epochs", "1", "--training-epochs", "1", "--batch-size", "500"]),
]


def timed_run(script, args, cache, output):
    env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(cache, "numba"),
               PYTENSOR_FLAGS=f"base_compiledir={os.path.join(cache, 'pytensor')}")
    start = timeit.default_timer()
    subprocess.run([sys.executable, os.path.join(CODE, script), *args,
                    "--output-folder", output, "--quiet"],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return timeit.default_timer() - start


# Run inside the script's process: time each outermost Numba compile, which
# is one whole PyTensor function with everything it calls.
BY_FUNCTION = """
import os, runpy, sys, time
import numba.core.codegen as codegen
import numba.core.dispatcher as dispatcher
llvm = {"optimising": 0.0, "machine code": 0.0}
def add_up(cls, name, part):
    method = getattr(cls, name)
    def timed_part(*args, **kwargs):
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            llvm[part] += time.perf_counter() - start
    setattr(cls, name, timed_part)
add_up(codegen.CPUCodeLibrary, "_optimize_functions", "optimising")
add_up(codegen.CPUCodeLibrary, "_optimize_final_module", "optimising")
add_up(codegen.JITCodeLibrary, "_finalize_specific", "machine code")
compile_one, depth = dispatcher.Dispatcher.compile, [0]
def timed(self, sig):
    depth[0] += 1
    start = time.perf_counter()
    try:
        return compile_one(self, sig)
    finally:
        depth[0] -= 1
        took = time.perf_counter() - start
        if depth[0] == 0:
            print(f"COMPILED {took:6.2f} s", file=sys.stderr, flush=True)
        elif depth[0] == 2 and took >= 0.5:
            # the function's own code (depth 0) calls its graph (1), which calls the ops (2)
            print(f"OP {took:6.2f} s {self.py_func.__name__}", file=sys.stderr, flush=True)
dispatcher.Dispatcher.compile = timed
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(sys.argv[0]))
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    print(f"LLVM {llvm['optimising']:.2f} {llvm['machine code']:.2f}", file=sys.stderr)
"""


def by_function(script, args, without_speedups=False):
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(cache, "numba"),
                   PYTENSOR_FLAGS=f"base_compiledir={os.path.join(cache, 'pytensor')}")
        if without_speedups:
            # the speed-ups set -O2 themselves: keep it, so that only the rest differs
            env.update(NUMBA_OPT=env.get("NUMBA_OPT", "2"))
            args = [*args, "--no-speedups"]
        done = subprocess.run([sys.executable, "-c", BY_FUNCTION, os.path.join(CODE, script),
                               *args, "--output-folder", os.path.join(cache, "out")],
                              env=env, check=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    lines = done.stderr.splitlines()
    times = [line for line in lines if line.startswith("COMPILED")]
    optimising, machine_code = [line for line in done.stderr.splitlines()
                                if line.startswith("LLVM ")][-1].split()[1:]
    total = sum(float(line.split()[1]) for line in times)
    print(f"{script}{' without the speed-ups' if without_speedups else ''}: "
          f"{len(times)} compiled functions, in the order of their first call")
    ops = []
    for line in lines:
        if line.startswith("OP "):
            ops.append(line[len("OP "):])
        elif line.startswith("COMPILED "):
            print("  " + line[len("COMPILED "):]
                  + (f"   ops over 0.5 s: {', '.join(ops)}" if ops else ""))
            ops = []
    print(f"  {total:.2f} s in all; LLVM spent {optimising} s of it optimising "
          f"and {machine_code} s making machine code")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--by-function", metavar="SCRIPT", choices=[s for s, _ in RUNS],
                        help="time the compile of each function of one script")
    parser.add_argument("--no-speedups", action="store_true",
                        help="with --by-function: run on stock PyTensor, without numba_speedups/")
    parser.add_argument("--only", metavar="SCRIPT", nargs="+", choices=[s for s, _ in RUNS],
                        help="time these scripts only")
    options = parser.parse_args()
    if options.no_speedups and not options.by_function:
        parser.error("--no-speedups goes with --by-function")
    if options.by_function:
        by_function(options.by_function, dict(RUNS)[options.by_function],
                    options.no_speedups)
        return
    print(f"{'script':16s} {'first run':>10s} {'cached':>10s} {'compiling':>10s}")
    for script, args in RUNS:
        if options.only and script not in options.only:
            continue
        with tempfile.TemporaryDirectory() as cache:
            cold = timed_run(script, args, cache, os.path.join(cache, "out1"))
            warm = timed_run(script, args, cache, os.path.join(cache, "out2"))
        print(f"{script:16s} {cold:9.1f}s {warm:9.1f}s {cold - warm:9.1f}s", flush=True)


if __name__ == "__main__":
    main()
