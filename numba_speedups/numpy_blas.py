"""NumPy's BLAS for the matrix products.

Inside Numba, ``np.dot`` calls the OpenBLAS that SciPy ships (0.3.30 with
SciPy 1.17), which multiplies the dA's float32 matrices (20 x 784 by
784 x 500) about 1.5 times slower than the newer OpenBLAS inside NumPy's
wheel (0.3.31). This module finds NumPy's copy, tells Numba's linker where
its ``gemm`` and ``gemv`` are, and gives the other speed-ups ``gemm_into``,
which lets BLAS add a product into W (``beta = 1``) instead of building it
in a temporary. A row or a column (the SdA at batch size 1) goes to the
matrix-vector product, ``gemv``, about four times faster there than ``gemm``.
Where NumPy brings no OpenBLAS of its own (another build of NumPy), the
products go through ``np.dot``.

Measured (docs/performance.md, lever 9, AMD EPYC, one thread): the dA's
product 251.0 -> 166.1 us; its update ``W -= 0.1 * (784 x 40) @ (40 x 500)``
327.7 -> 269.5 us.
"""
import ctypes
import glob
import os

import numpy
from numba import types

from numba_speedups import _shared
from numba_speedups._shared import njit


def find_numpy_blas():
    """The path of the OpenBLAS in NumPy's wheel, with its four products, or None."""
    import llvmlite.binding
    folder = os.path.join(os.path.dirname(numpy.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(folder, "libscipy_openblas64_*"))):
        try:
            lib = ctypes.CDLL(path)
            addresses = {name: ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
                         for name in ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_",
                                      "scipy_cblas_sgemv64_", "scipy_cblas_dgemv64_",
                                      "scipy_openblas_get_num_threads64_")}
        except (OSError, AttributeError):
            continue
        # Numba's linker looks external functions up by name; these names
        # are NumPy's own (prefixed), so nothing else in the process uses them
        for name, address in addresses.items():
            llvmlite.binding.add_symbol(name, address)
        return path
    return None


@njit
def check_shapes(z, x, y):
    # the loops and BLAS below read without bounds checks: refuse what would overrun
    if (x.shape[0] != z.shape[0] or y.shape[1] != z.shape[1]
            or x.shape[1] != y.shape[0]):
        raise ValueError("gemm: shapes of z, x and y do not match")


@njit
def gemm_by_numba(z, alpha, x, y, beta):
    """z = beta * z + alpha * x @ y, written over z, through np.dot."""
    product = numpy.dot(x, y)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            if beta == 0:   # z may hold anything, even NaN: ignore it
                z[i, j] = alpha * product[i, j]
            else:
                z[i, j] = beta * z[i, j] + alpha * product[i, j]


flag, n, address = types.int32, types.int64, types.uintp


def cblas_gemm(name, real):
    # (order, trans_x, trans_y, m, n, k, alpha, x, ldx, y, ldy, beta, z, ldz)
    return types.ExternalFunction(name, types.void(
        flag, flag, flag, n, n, n, real, address, n, address, n, real, address, n))


def cblas_gemv(name, real):
    # (order, trans_a, m, n, alpha, a, lda, v, step_v, beta, out, step_out)
    return types.ExternalFunction(name, types.void(
        flag, flag, n, n, real, address, n, address, n, real, address, n))


# read at every product, so that a change of thread count at run time counts
blas_thread_count = types.ExternalFunction("scipy_openblas_get_num_threads64_", types.int32())
sgemm = cblas_gemm("scipy_cblas_sgemm64_", types.float32)
dgemm = cblas_gemm("scipy_cblas_dgemm64_", types.float64)
sgemv = cblas_gemv("scipy_cblas_sgemv64_", types.float32)
dgemv = cblas_gemv("scipy_cblas_dgemv64_", types.float64)
ROW_MAJOR, AS_IS, TRANSPOSED = 101, 111, 112


@njit
def in_rows(a):
    return a.strides[1] == a.itemsize and a.strides[0] >= max(1, a.shape[1]) * a.itemsize


@njit
def blas_operand(a):
    """How cblas should read a: (array, AS_IS or TRANSPOSED, row length in
    memory). A copy only when neither a nor a.T is in rows."""
    if in_rows(a):
        return a, AS_IS, a.strides[0] // a.itemsize
    if in_rows(a.T):
        return a, TRANSPOSED, a.strides[1] // a.itemsize
    rows = numpy.ascontiguousarray(a)
    return rows, AS_IS, max(1, rows.shape[1])


@njit
def gemv(how, m, n, alpha, a, a_row, v, v_step, beta, out, out_step, itemsize):
    if itemsize == 4:
        sgemv(ROW_MAJOR, how, m, n, numpy.float32(alpha), a, a_row, v, v_step,
              numpy.float32(beta), out, out_step)
    else:
        dgemv(ROW_MAJOR, how, m, n, alpha, a, a_row, v, v_step, beta, out, out_step)


@njit
def blas_product(m, n, k, alpha, x, x_how, x_row, y, y_how, y_row, beta, z, z_row, itemsize):
    """z = beta * z + alpha * x @ y on bare addresses: x and y as
    blas_operand describes them, z (m x n) in rows of z_row elements."""
    # gemm would treat a row or a column as a whole matrix, 4 times slower
    # than the matrix-vector product (1 x 1000 by 1000 x 1000)
    if m == 1:      # z's row = x's row @ y, that is y.T @ x's row
        x_step = 1 if x_how == AS_IS else x_row
        if y_how == AS_IS:      # y (k x n) lies in rows
            gemv(TRANSPOSED, k, n, alpha, y, y_row, x, x_step, beta, z, 1, itemsize)
        else:                   # y.T (n x k) lies in rows
            gemv(AS_IS, n, k, alpha, y, y_row, x, x_step, beta, z, 1, itemsize)
    elif n == 1:    # z's column = x @ y's column
        y_step = y_row if y_how == AS_IS else 1
        if x_how == AS_IS:      # x (m x k) lies in rows
            gemv(AS_IS, m, k, alpha, x, x_row, y, y_step, beta, z, z_row, itemsize)
        else:                   # x.T (k x m) lies in rows
            gemv(TRANSPOSED, k, m, alpha, x, x_row, y, y_step, beta, z, z_row, itemsize)
    elif itemsize == 4:
        sgemm(ROW_MAJOR, x_how, y_how, m, n, k, numpy.float32(alpha), x, x_row,
              y, y_row, numpy.float32(beta), z, z_row)
    else:
        dgemm(ROW_MAJOR, x_how, y_how, m, n, k, alpha, x, x_row, y, y_row, beta, z, z_row)


@njit
def turned_round_is_faster(m, n, k, x_how, y_how, itemsize, threads):
    """Whether to compute x @ y as (y.T @ x.T).T: OpenBLAS's kernels are
    slow for some shapes and fast for the same product turned round, written
    in the other order and copied back (AMD EPYC; bench/levers.py, item 13,
    times every case here both ways, run it with OPENBLAS_NUM_THREADS=1 and 2):

    - a few rows x (m) times a transposed y, in float32: the dA's h @ W.T
      (20 x 500 by 500 x 784) 1.5 times faster turned with one BLAS thread
      and with two; in float64 slower;
    - a narrow result (n of 16 or fewer columns, many rows), logistic
      regression's 10 classes: its update x.T @ d (784 x 600 by 600 x 10)
      1.2 times faster turned in float32 and 1.6 in float64 with one thread,
      1.1 in float64 with two (in float32 with two, 1.3 times slower); its
      forward x @ W (600 x 784 by 784 x 10) 1.25 times faster turned in
      float64 with one thread, slower in every other case. A turned product
      has few rows for a second thread to share."""
    if k < 64:
        return False
    if (itemsize == 4 and x_how == AS_IS and y_how == TRANSPOSED
            and 4 <= m <= 32 and k >= 100 and n >= 4 * m):
        return True
    if 2 <= n <= 16 and m >= 8 * n:
        if x_how == TRANSPOSED and y_how == AS_IS:
            return itemsize == 8 or threads == 1
        return itemsize == 8 and threads == 1 and x_how == AS_IS and y_how == AS_IS
    return False


@njit
def turned_product(z, alpha, xs, x_how, x_row, ys, y_how, y_row, beta):
    """z = beta * z + alpha * x @ y as (alpha * y.T @ x.T).T: the product in
    rows of a temporary (y.T and x.T are y and x read the other way), then
    added into z."""
    m, n, k = z.shape[0], z.shape[1], xs.shape[1]     # xs is x, or x copied into rows
    turned = numpy.empty((n, m), dtype=z.dtype)
    blas_product(n, m, k, alpha, ys.ctypes.data, AS_IS + TRANSPOSED - y_how, y_row,
                 xs.ctypes.data, AS_IS + TRANSPOSED - x_how, x_row, 0.0,
                 turned.ctypes.data, max(1, m), z.itemsize)
    for i in range(m):
        for j in range(n):
            if beta == 0:   # z may hold anything, even NaN: ignore it
                z[i, j] = turned[j, i]
            else:
                z[i, j] = beta * z[i, j] + turned[j, i]


# Numba compiles gemm_by_blas once for each layout of z, x and y; the loops
# over z alone go in functions of their own, compiled once for z
@njit
def scale(z, beta):
    """z = beta * z; at beta = 0 zeros, whatever z held (even NaN)."""
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            z[i, j] = 0 if beta == 0 else beta * z[i, j]


@njit
def add_into(z, product):
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            z[i, j] += product[i, j]


@njit
def gemm_by_blas(z, alpha, x, y, beta):
    """z = beta * z + alpha * x @ y, written over z, by NumPy's BLAS.
    Callers pass alpha and beta as float64, so that Numba compiles one
    version per layout of the arrays, not one per type of the scalars too."""
    check_shapes(z, x, y)
    m, n, k = z.shape[0], z.shape[1], x.shape[1]
    if k == 0 or (beta == 0 and (m == 1 or n == 1)):
        # gemv may keep a NaN of z even at beta = 0, and with k = 0 it
        # leaves z as it is: do that part here (gemm does it right)
        scale(z, beta)
        beta = 1.0
        if k == 0:
            return
    xs, x_how, x_row = blas_operand(x)
    ys, y_how, y_row = blas_operand(y)
    if turned_round_is_faster(m, n, k, x_how, y_how, z.itemsize, blas_thread_count()):
        turned_product(z, alpha, xs, x_how, x_row, ys, y_how, y_row, beta)
    elif in_rows(z):
        blas_product(m, n, k, alpha, xs.ctypes.data, x_how, x_row,
                     ys.ctypes.data, y_how, y_row, beta, z.ctypes.data,
                     z.strides[0] // z.itemsize, z.itemsize)
    else:           # z strided otherwise: the product in rows first
        product = numpy.zeros((m, n), dtype=z.dtype)   # gemv and NaN, as above
        blas_product(m, n, k, alpha, xs.ctypes.data, x_how, x_row,
                     ys.ctypes.data, y_how, y_row, 0.0, product.ctypes.data,
                     max(1, n), z.itemsize)
        scale(z, beta)
        add_into(z, product)
    # BLAS got bare addresses: xs and ys (maybe copies) must live until here
    check_shapes(z, xs, ys)


# which of the two the products call; install() decides, before any compile
gemm_into = gemm_by_numba
PATH = None


@njit
def add_product(z, alpha, x, y):
    """z += alpha * x @ y, in place; loops without temporaries when the inner
    dimension is 1 (an outer product) or 2 (the dA's two terms)."""
    check_shapes(z, x, y)
    if x.shape[1] == 1:
        for i in range(z.shape[0]):
            for j in range(z.shape[1]):
                z[i, j] += alpha * (x[i, 0] * y[0, j])
    elif x.shape[1] == 2:
        # y comes from a join whose layout Numba cannot know; rows copied
        # into fresh (C-ordered) vectors keep the loop vectorised
        y0 = numpy.empty(z.shape[1], dtype=z.dtype)
        y1 = numpy.empty(z.shape[1], dtype=z.dtype)
        for j in range(z.shape[1]):
            y0[j], y1[j] = y[0, j], y[1, j]
        for i in range(z.shape[0]):
            s0, s1 = alpha * x[i, 0], alpha * x[i, 1]
            for j in range(z.shape[1]):
                z[i, j] += s0 * y0[j] + s1 * y1[j]
    else:
        gemm_into(z, float(alpha), x, y, 1.0)


def install(patches):
    import sys
    module = sys.modules[__name__]
    path = find_numpy_blas()
    patches.setattr(module, "PATH", path)
    patches.setattr(module, "gemm_into", gemm_by_numba if path is None else gemm_by_blas)
    patches.setattr(_shared, "state", {"key": 2 * _shared.SOURCE_KEY + (path is not None)})
