"""exp, tanh, the sigmoid and softplus in plain arithmetic, for loops LLVM can
vectorise.

Numba compiles ``exp``, ``tanh`` or ``log1p`` as one call per element to the C
library, and a loop that calls a function cannot use the CPU's vector
instructions: NumPy's own loops, which are vectorised, ran 10 to 45 times
faster here (docs/performance.md, "Elementwise"). Written out with adds,
multiplies, one division, comparisons and a bit cast, the same functions run
8 or 16 elements at a time in Numba too.

The one building block splits y:

    y = k ln 2 + r,  |r| <= ln(2) / 2,   exp(y) = 2**k + 2**k expm1(r),
                                         expm1(y) = (2**k - 1) + 2**k expm1(r)

with ln 2 in two parts (k * ln2_hi is exact, so r keeps its bits), expm1(r)
by its Taylor series (degree 7 in float32, 13 in float64: the first term left
out is below half an ulp), and 2**k written into a float's exponent bits, in
two factors so that k may go down to where exp underflows (and up to where
it overflows). Then exp is that, and

    tanh(|x|)   = -m / (2 + m),                m = expm1(-2 |x|)
    sigmoid(x)  = 1 / (1 + e)  or  e / (1 + e), e = exp(-|x|), by the sign of x
    softplus(x) = max(x, 0) + log1p(e),         log1p(e) = 2 atanh(e / (2 + e))

with atanh(s) = s + s**3/3 + ... on s <= 1/3 after halving u = 1 + e when it
exceeds sqrt(2) (then s <= 0.172). No branch anywhere: the choices are
selects. Compiled with one fast-math flag only, "contract" (fused
multiply-adds): PyTensor's default flags also let LLVM reassociate, which
undoes the two-part ln 2 (36 ulps off at exp(-120) in float64).

Measured (docs/performance.md, "Elementwise", AMD EPYC, one thread), 720,000
numbers, ms, Numba's own code -> these -> NumPy:
float32 tanh 11.7 -> 0.29 (NumPy 0.26), sigmoid -> 0.25 (NumPy 0.53),
softplus -> 0.46 (NumPy's logaddexp 11.5); float64 tanh 11.1 -> 0.85 (NumPy
1.21), sigmoid -> 0.80 (1.13), softplus -> 1.43 (12.4). The tests hold each function to a few ulps of the exact value
(tests/test_speedups.py).
"""
import math

import numpy
from numba import types
from numba.extending import intrinsic
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.link.numba.dispatch import scalar as numba_scalar
from pytensor.scalar.basic import Exp, Tanh
from pytensor.scalar.math import Sigmoid, Softplus

from numba_speedups._shared import key, njit

LN2 = math.log(2.0)
# ln 2 to 80 bits (long double, where NumPy has it; float64 elsewhere), for the
# low part of the two-part constant: k ln 2 = k ln2_hi + k ln2_lo
LN2_LONG = numpy.log(numpy.longdouble(2.0))


def _rounded(value, bits):
    """value rounded to `bits` significant bits: k * it is exact for small k."""
    exponent = math.frexp(value)[1]
    return math.ldexp(round(math.ldexp(value, bits - exponent)), exponent - bits)


@intrinsic
def _as_float(typingctx, bits):
    """The float whose bit pattern is the integer bits (int32 -> float32,
    int64 -> float64)."""
    real = {types.int32: types.float32, types.int64: types.float64}.get(bits)
    if real is None:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(real))
    return real(bits), codegen


def constants(dtype):
    real = numpy.dtype(dtype).type
    if real is numpy.float32:
        # |k| <= 150: 8 bits, so ln2_hi keeps 24 - 8 = 16
        return dict(real=real, degree=7, ln2_hi=_rounded(LN2, 16), integer=numpy.int32,
                    bias=127, shift=23, lowest=-104.0, highest=89.0, log_terms=5)
    # |k| <= 1075: 11 bits, so ln2_hi keeps 53 - 11 = 42
    return dict(real=real, degree=13, ln2_hi=_rounded(LN2, 42), integer=numpy.int64,
                bias=1023, shift=52, lowest=-746.0, highest=710.0, log_terms=11)


# Each function is generated from source, the exp core written into its body:
# a function that calls helpers is, at LLVM's -O2 (numba_speedups/llvm_o2.py),
# too large to be inlined into PyTensor's elementwise loop in float64, and a
# loop that calls a function is not vectorised (measured: tanh of 20 x 784
# float64 numbers 198 us with helpers, 24 us in one body; NumPy 28 us).
EXP_CORE = """
    y = {y}
    k = np.int32(y * INV_LN2 + {half})      # nearest integer (by truncation)
    kf = REAL(k)
    r = (y - kf * LN2_HI) - kf * LN2_LO     # |r| <= ln(2) / 2, every bit kept
    q = C0
{horner}
    q = q * r                               # expm1(r)
{scale}"""
# 2 ** k as 2 ** k1 * 2 ** k2, each factor a normal number even where 2 ** k
# is not (Numba widens int32 sums: cast back)
TWO_FACTORS = """
    k1 = k >> 1
    k2 = k - k1
    s1 = AS_FLOAT(INT((INT(k1) + BIAS) << SHIFT))
    s2 = AS_FLOAT(INT((INT(k2) + BIAS) << SHIFT))
    scale = s1 * s2
"""
# tanh's clamped argument keeps 2 ** k a normal number (k >= -27 in float32,
# -57 in float64): one factor, four operations fewer per element (float32
# tanh of 20 x 784 numbers 7.0 -> 6.3 us, NumPy 6.2)
ONE_FACTOR = """
    scale = AS_FLOAT(INT((INT(k) + BIAS) << SHIFT))
"""

BODIES = {
    "exp": """
def exp(x):
{core}
    return s1 * (s2 + s2 * q)               # 2 ** k may overflow where exp(x) does not
""",
    "tanh": """
def tanh(x):
{core}
    m = (scale - ONE) + scale * q           # expm1(-2 |x|)
    t = np.divide(ZERO - m, TWO + m)        # np.divide: no zero check, no branch
    return ZERO - t if x < ZERO else t
""",
    "sigmoid": """
def sigmoid(x):
{core}
    e = scale + scale * q                   # exp(-|x|), in [0, 1]
    s = np.divide(ONE, ONE + e)
    return s if x >= ZERO else e * s
""",
    "softplus": """
def softplus(x):
{core}
    e = scale + scale * q                   # exp(-|x|), in [0, 1]
    # log(1 + e) = 2 atanh(s): s = e / (2 + e), or after halving 1 + e,
    # s = (e - 1) / (e + 3) and ln 2 more
    big = e > ROOT2_MINUS_1
    s = np.divide(e - ONE if big else e, e + THREE if big else e + TWO)
    s2 = s * s
    p = D0
{log_horner}
    return max(x, ZERO) + (TWO * (s + s * s2 * p) + (LN2 if big else ZERO))
""",
}
# the argument of the exp core (clamped where exp underflows or overflows),
# and how to round y / ln 2 to the nearest integer by truncation
ARGUMENTS = {"exp": ("min(max(x, LOWEST), HIGHEST)", "(HALF if y > ZERO else -HALF)"),
             "tanh": ("-TWO * min(abs(x), CLAMP)", "-HALF"),
             "sigmoid": ("max(ZERO - abs(x), LOWEST)", "-HALF"),
             "softplus": ("max(ZERO - abs(x), LOWEST)", "-HALF")}


def function_for(name, dtype):
    """The Numba scalar function `name` (tanh, sigmoid, softplus) in dtype."""
    k_ = constants(dtype)
    real, integer = k_["real"], k_["integer"]
    c = [real(1.0 / math.factorial(n)) for n in range(k_["degree"], 0, -1)]
    d = [real(1.0 / (2 * n + 1)) for n in range(k_["log_terms"], 0, -1)]
    env = dict(
        np=numpy, REAL=real, INT=integer, AS_FLOAT=_as_float,
        LOWEST=real(k_["lowest"]), HIGHEST=real(k_["highest"]), INV_LN2=real(1.0 / LN2), HALF=real(0.5),
        LN2_HI=real(k_["ln2_hi"]), LN2_LO=real(LN2_LONG - numpy.longdouble(k_["ln2_hi"])),
        BIAS=integer(k_["bias"]), SHIFT=integer(k_["shift"]),
        ZERO=real(0.0), ONE=real(1.0), TWO=real(2.0), THREE=real(3.0), LN2=real(LN2),
        ROOT2_MINUS_1=real(math.sqrt(2.0) - 1.0),
        CLAMP=real(9.0 if real is numpy.float32 else 19.5),      # where tanh rounds to 1
        **{f"C{i}": v for i, v in enumerate(c)}, **{f"D{i}": v for i, v in enumerate(d)})
    horner = "\n".join(f"    q = q * r + C{i}" for i in range(1, len(c)))
    log_horner = "\n".join(f"    p = p * s2 + D{i}" for i in range(1, len(d)))
    argument, half = ARGUMENTS[name]
    scale = ONE_FACTOR if name == "tanh" else TWO_FACTORS
    core = EXP_CORE.format(y=argument, half=half, horner=horner, scale=scale.strip("\n")).strip("\n")
    source = BODIES[name].format(core=core, log_horner=log_horner)
    local = {}
    exec(compile(source, f"<numba_speedups.vector_math.{name}>", "exec"), env, local)
    # forceinline: LLVM inlines it into its caller whatever its size (and
    # numba_speedups/inline_loops.py makes the callers up to the loop do the same)
    return njit(local[name], fastmath={"contract"}, forceinline=True)


def exp_for(dtype):
    return function_for("exp", dtype)


def tanh_for(dtype):
    return function_for("tanh", dtype)


def sigmoid_for(dtype):
    return function_for("sigmoid", dtype)


def softplus_for(dtype):
    return function_for("softplus", dtype)


def install(patches):
    stock = {Exp: numba_scalar.numba_funcify_ScalarOp, Tanh: numba_scalar.numba_funcify_ScalarOp,
             Sigmoid: numba_scalar.numba_funcify_Sigmoid,
             Softplus: numba_scalar.numba_funcify_Softplus}
    ours = {Exp: exp_for, Tanh: tanh_for, Sigmoid: sigmoid_for, Softplus: softplus_for}
    cache_key = numba_scalar.scalar_op_cache_key

    def implementation(op, node, **kwargs):
        dtype = node.inputs[0].type.dtype
        if dtype not in ("float32", "float64") or node.outputs[0].type.dtype != dtype:
            return stock[type(op)](op, node, **kwargs)     # integers: PyTensor's own code
        return ours[type(op)](dtype), cache_key(op, cache_version=key(), dtype=dtype)

    for op_type in ours:
        patches.funcify(numba_basic.register_funcify_and_cache_key, op_type, implementation)
