"""exp, tanh, the sigmoid and softplus in plain arithmetic, for loops LLVM can
vectorise.

Numba compiles ``exp``, ``tanh`` or ``log1p`` as one call per element to the C
library, and a loop that calls a function cannot use the CPU's vector
instructions: NumPy's own loops, which are vectorised, ran 10 to 45 times
faster here (docs/performance.md, "Elementwise"). Written out with adds,
multiplies, one division, comparisons and a bit cast, the same functions run
8 or 16 elements at a time in Numba too.

The one building block is expm1(y) for y <= 0:

    y = k ln 2 + r,  |r| <= ln(2) / 2,   expm1(y) = (2**k - 1) + 2**k expm1(r)

with ln 2 in two parts (k * ln2_hi is exact, so r keeps its bits), expm1(r)
by its Taylor series (degree 7 in float32, 13 in float64: the first term left
out is below half an ulp), and 2**k written into a float's exponent bits, in
two factors so that k may go down to where exp underflows. Then

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
from pytensor.scalar.basic import Tanh
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
                    bias=127, shift=23, lowest=-104.0, log_terms=5)
    # |k| <= 1075: 11 bits, so ln2_hi keeps 53 - 11 = 42
    return dict(real=real, degree=13, ln2_hi=_rounded(LN2, 42), integer=numpy.int64,
                bias=1023, shift=52, lowest=-746.0, log_terms=11)


def exp_parts_for(dtype):
    """(2**k, expm1(r)) for y <= 0, y = k ln 2 + r; below `lowest`, where exp
    underflows, as at lowest. exp(y) = 2**k + 2**k expm1(r), expm1(y) =
    (2**k - 1) + 2**k expm1(r): each without cancellation."""
    k_ = constants(dtype)
    real, integer = k_["real"], k_["integer"]
    ln2_hi = real(k_["ln2_hi"])
    ln2_lo = real(LN2_LONG - numpy.longdouble(k_["ln2_hi"]))
    inv_ln2, half = real(1.0 / LN2), real(0.5)
    lowest = real(k_["lowest"])
    bias, shift = integer(k_["bias"]), integer(k_["shift"])
    c = tuple(real(1.0 / math.factorial(n)) for n in range(k_["degree"], 0, -1))

    @njit(fastmath={"contract"})
    def exp_parts(y):
        y = max(y, lowest)
        k = numpy.int32(y * inv_ln2 - half)           # nearest integer (truncation, y <= 0)
        kf = real(k)
        r = (y - kf * ln2_hi) - kf * ln2_lo
        q = c[0]
        for ci in c[1:]:
            q = q * r + ci
        q = q * r                                     # expm1(r)
        # 2 ** k as 2 ** k1 * 2 ** k2, each a normal number even where 2 ** k
        # is not (Numba widens int32 sums: cast back)
        k1 = k >> 1
        k2 = k - k1
        scale = (_as_float(integer((integer(k1) + bias) << shift))
                 * _as_float(integer((integer(k2) + bias) << shift)))
        return scale, q
    return exp_parts


def expm1_negative_for(dtype):
    exp_parts = exp_parts_for(dtype)
    one = constants(dtype)["real"](1.0)

    @njit(fastmath={"contract"})
    def expm1_negative(y):
        scale, q = exp_parts(y)
        return (scale - one) + scale * q
    return expm1_negative


def exp_negative_for(dtype):
    exp_parts = exp_parts_for(dtype)

    @njit(fastmath={"contract"})
    def exp_negative(y):
        scale, q = exp_parts(y)
        return scale + scale * q
    return exp_negative


def tanh_for(dtype):
    real = constants(dtype)["real"]
    expm1_negative = expm1_negative_for(dtype)
    clamp = real(9.0 if real is numpy.float32 else 19.5)     # where tanh rounds to 1
    zero, two = real(0.0), real(2.0)

    @njit(fastmath={"contract"})
    def tanh(x):
        m = expm1_negative(-two * min(abs(x), clamp))
        t = numpy.divide(zero - m, two + m)           # numpy.divide: no zero check, no branch
        return zero - t if x < zero else t
    return tanh


def sigmoid_for(dtype):
    real = constants(dtype)["real"]
    exp_negative = exp_negative_for(dtype)
    zero, one = real(0.0), real(1.0)

    @njit(fastmath={"contract"})
    def sigmoid(x):
        e = exp_negative(zero - abs(x))               # exp(-|x|), in [0, 1]
        s = numpy.divide(one, one + e)
        return s if x >= zero else e * s
    return sigmoid


def log1p_unit_for(dtype):
    """log1p(e) for e in [0, 1]."""
    k_ = constants(dtype)
    real = k_["real"]
    c = tuple(real(1.0 / (2 * n + 1)) for n in range(k_["log_terms"], 0, -1))
    one, two, three = real(1.0), real(2.0), real(3.0)
    root2_minus_1, ln2 = real(math.sqrt(2.0) - 1.0), real(LN2)

    @njit(fastmath={"contract"})
    def log1p_unit(e):
        big = e > root2_minus_1
        # log(1 + e) = 2 atanh(s): s = e / (2 + e), or after halving 1 + e,
        # s = (e - 1) / (e + 3) and ln 2 more
        s = numpy.divide(e - one if big else e, e + three if big else e + two)
        s2 = s * s
        q = c[0]
        for ci in c[1:]:
            q = q * s2 + ci
        return two * (s + s * s2 * q) + (ln2 if big else real(0.0))
    return log1p_unit


def softplus_for(dtype):
    real = constants(dtype)["real"]
    exp_negative = exp_negative_for(dtype)
    log1p_unit = log1p_unit_for(dtype)
    zero = real(0.0)

    @njit(fastmath={"contract"})
    def softplus(x):
        return max(x, zero) + log1p_unit(exp_negative(zero - abs(x)))
    return softplus


def install(patches):
    stock = {Tanh: numba_scalar.numba_funcify_ScalarOp,
             Sigmoid: numba_scalar.numba_funcify_Sigmoid,
             Softplus: numba_scalar.numba_funcify_Softplus}
    ours = {Tanh: tanh_for, Sigmoid: sigmoid_for, Softplus: softplus_for}
    cache_key = numba_scalar.scalar_op_cache_key

    def implementation(op, node, **kwargs):
        dtype = node.inputs[0].type.dtype
        if dtype not in ("float32", "float64") or node.outputs[0].type.dtype != dtype:
            return stock[type(op)](op, node, **kwargs)     # integers: PyTensor's own code
        return ours[type(op)](dtype), cache_key(op, cache_version=key(), dtype=dtype)

    for op_type in ours:
        patches.funcify(numba_basic.register_funcify_and_cache_key, op_type, implementation)
