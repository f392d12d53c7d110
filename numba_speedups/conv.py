"""Compiled loops for the LeNet chapter's ops (code/conv.py).

Without them PyTensor's Numba backend runs each op's NumPy ``perform`` in
object mode: correct, but the unfolding of patches goes through a 6-d
strided copy and the pooling through masks the size of the image.
These loops walk the arrays once, in the order they lie in memory.

Measured: see docs/performance.md, "LeNet".
"""
import ctypes
import threading

import numba
import numpy

from pytensor.link.numba.dispatch import basic as numba_basic

from numba_speedups import numpy_blas
from numba_speedups._shared import key, njit


NAMES = ("Conv2d", "Conv2dGradFilters", "Conv2dGradInputs", "MaxPool", "MaxPoolGrad")


def _ops():
    try:
        import conv     # code/conv.py, on sys.path wherever a script runs
    except ImportError:
        return None
    if not all(hasattr(conv, name) for name in NAMES):
        return None     # some other module called conv
    return conv


# Each kernel unfolds the patches of a block of images into columns
# (row (c, u, v), column (image, i, j) holds x[image, c, i + u, j + v]) and
# does one BLAS product per block. A block of about 128 K numbers (half a
# megabyte in float32) stays in the core's cache between the unfolding and
# the product; unfolding the whole batch at once (16 M numbers for LeNet's
# second layer) measured twice as slow.
BLOCK = 1 << 17


@njit
def turned_matrix(filters):
    """(F, C * kh * kw), row f = filter f turned round, in unfold's order."""
    f, c, kh, kw = filters.shape
    m = numpy.empty((f, c * kh * kw), dtype=filters.dtype)
    for k in range(f):
        for ci in range(c):
            for u in range(kh):
                for v in range(kw):
                    m[k, (ci * kh + u) * kw + v] = filters[k, ci, kh - 1 - u, kw - 1 - v]
    return m


@njit
def block_size(n, column_length):
    return max(1, min(n, BLOCK // max(1, column_length)))


@njit
def block_view(buffer, t, rows, columns):
    """Worker t's part of buffer as a fresh rows x columns matrix (the last
    block of images may be shorter than the others)."""
    return buffer[t, :rows * columns].reshape((rows, columns))


@njit
def check_fit(x, filters):
    if x.shape[2] < filters.shape[2] or x.shape[3] < filters.shape[3]:
        raise ValueError("conv2d: the filter does not fit in the image")
    if x.shape[1] != filters.shape[1]:
        raise ValueError("conv2d: the image and the filters have different channels")


def blas_threads():
    """How many threads NumPy's OpenBLAS uses (1 where it cannot be asked)."""
    if numpy_blas.PATH is None:
        return 1
    try:
        return int(ctypes.CDLL(numpy_blas.PATH).scipy_openblas_get_num_threads64_())
    except (OSError, AttributeError):
        return 1


class OneBlasThread(object):
    """OpenBLAS at one thread while a function that shares its convolutions
    out between the cores runs, and back to its count after.

    The kernels below give each core its own blocks of images, each block's
    product by a one-thread BLAS. With OpenBLAS at two threads the products
    outside them (LeNet's hidden layer) leave OpenBLAS's idle worker
    busy-waiting for about 0.1 s after each, on the core a kernel's worker
    wants: kernels that set BLAS to one thread themselves (an experiment)
    measured 138 against 130 ms, LeNet's float32 step alone in a process.
    The whole function at one BLAS thread is the setting convolutional_mlp.py
    runs with; this gives it to a function called from anywhere else (a
    notebook, bench/bench.py's two-thread table): with OpenBLAS at two
    threads the step took 85.1 ms, against 133.5 with the blocks in turn
    (python bench/levers.py 15). Calls from several threads
    at once are counted: the first sets one thread, the last puts the count
    back."""

    def __init__(self, path):
        lib = ctypes.CDLL(path)
        self._get = lib.scipy_openblas_get_num_threads64_
        self._get.restype = ctypes.c_int
        self._get.argtypes = []
        self._set = lib.scipy_openblas_set_num_threads64_
        self._set.restype = None
        self._set.argtypes = [ctypes.c_int]
        self._lock = threading.Lock()
        self._running = 0
        self._saved = 1

    def __enter__(self):
        with self._lock:
            if self._running == 0:
                self._saved = int(self._get())
                if self._saved != 1:
                    self._set(1)
            self._running += 1

    def __exit__(self, *exc_info):
        with self._lock:
            self._running -= 1
            if self._running == 0 and self._saved != 1:
                self._set(self._saved)

    def around(self, function):
        def at_one_blas_thread(*args):
            with self:
                return function(*args)
        at_one_blas_thread.__wrapped__ = function
        return at_one_blas_thread


def one_blas_thread():
    """An OneBlasThread for NumPy's OpenBLAS, or None where there is none to set."""
    if numpy_blas.PATH is None:
        return None
    try:
        return OneBlasThread(numpy_blas.PATH)
    except (OSError, AttributeError):
        return None


def convolution_kernels(sizes, parallel):

    """The three kernels (forward, gradient for the filters, for the input),
    compiled for the sizes known when the graph was built: sizes = (channels,
    image height, width, filter height, width), -1 where unknown. A known
    size is a constant to LLVM, which then unrolls the short loops over a
    patch's row (8 numbers in LeNet's second layer): the unfolding ran 2.7
    times faster so. Unknown sizes are read from the arrays."""
    C, H, W, KH, KW = sizes
    # workers are a constant of the compiled code: asking Numba for the
    # thread count or the thread's number at run time would keep the code
    # out of the disk cache (Numba refuses to cache those calls)
    WORKERS = max(1, numba.config.NUMBA_NUM_THREADS) if parallel else 1
    # a shared-out kernel called with OpenBLAS at more than one thread (outside
    # OneBlasThread: a graph inside a Scan, a kernel called directly) does its
    # blocks in turn: two workers each calling a two-thread BLAS took 80 times
    # as long per product (20 x 784 by 784 x 500)
    ASK_BLAS = parallel and numpy_blas.PATH is not None

    @njit
    def workers():
        if ASK_BLAS:    # a constant: without NumPy's OpenBLAS nothing to ask
            if numpy_blas.blas_thread_count() != 1:
                return 1
        return WORKERS
    # parallel: blocks of images shared out between the cores, each block's
    # product by a one-thread BLAS; otherwise one block after another, BLAS
    # using its threads

    @njit
    def dims(x, filters):
        # plain int64s: a tuple of literal ints breaks Numba's parallel lowering
        c = numpy.int64(C if C >= 0 else x.shape[1])
        h = numpy.int64(H if H >= 0 else x.shape[2])
        w = numpy.int64(W if W >= 0 else x.shape[3])
        kh = numpy.int64(KH if KH >= 0 else filters.shape[2])
        kw = numpy.int64(KW if KW >= 0 else filters.shape[3])
        return c, h, w, kh, kw, h - kh + 1, w - kw + 1

    @njit
    def unfold(x, n0, n1, c, kh, kw, oh, ow, cols):
        for ci in range(c):
            for u in range(kh):
                for v in range(kw):
                    r = (ci * kh + u) * kw + v
                    for ni in range(n0, n1):
                        for i in range(oh):
                            base = ((ni - n0) * oh + i) * ow
                            for j in range(ow):
                                cols[r, base + j] = x[ni, ci, i + u, j + v]

    @njit
    def fold_into(gx, n0, n1, c, kh, kw, oh, ow, cols):
        """The adjoint of unfold: adds the columns back onto gx[n0:n1]."""
        for ni in range(n0, n1):
            for ci in range(c):
                for u in range(kh):
                    for v in range(kw):
                        r = (ci * kh + u) * kw + v
                        for i in range(oh):
                            base = ((ni - n0) * oh + i) * ow
                            for j in range(ow):
                                gx[ni, ci, i + u, j + v] += cols[r, base + j]

    @njit
    def gather_gradient(gz, n0, n1, f, oh, ow, into):
        """into[f, (image - n0) * p + q] = gz[image, f, q]: one block's
        output gradient, a row per filter."""
        p = oh * ow
        for ni in range(n0, n1):
            for k in range(f):
                for i in range(oh):
                    for j in range(ow):
                        into[k, (ni - n0) * p + i * ow + j] = gz[ni, k, i, j]

    @njit(parallel=parallel)
    def conv2d_valid(x, filters):
        check_fit(x, filters)
        c, h, w, kh, kw, oh, ow = dims(x, filters)
        n, f, p, ckk = x.shape[0], filters.shape[0], oh * ow, c * kh * kw
        weights = turned_matrix(filters).astype(x.dtype)
        out = numpy.empty((n, f, p), dtype=x.dtype)
        chunk = block_size(n, ckk * p)
        threads = workers()
        buffer = numpy.empty((threads, ckk * chunk * p), dtype=x.dtype)
        pbuffer = numpy.empty((threads, f * chunk * p), dtype=x.dtype)
        for t in numba.prange(threads):          # one worker per core, its own buffers
            for block in range(t, (n + chunk - 1) // chunk, threads):
                n0 = block * chunk
                n1 = min(n, n0 + chunk)
                cols = block_view(buffer, t, ckk, (n1 - n0) * p)
                unfold(x, n0, n1, c, kh, kw, oh, ow, cols)
                product = block_view(pbuffer, t, f, (n1 - n0) * p)
                numpy_blas.gemm_into(product, 1.0, weights, cols, 0.0)
                for ni in range(n1 - n0):
                    for k in range(f):
                        for q in range(p):
                            out[n0 + ni, k, q] = product[k, ni * p + q]
        return out.reshape((n, f, oh, ow))

    @njit(parallel=parallel)
    def conv2d_grad_filters(x, gz, filters):
        check_fit(x, filters)
        c, h, w, kh, kw, oh, ow = dims(x, filters)
        n, f, p, ckk = x.shape[0], filters.shape[0], oh * ow, c * kh * kw
        threads = workers()
        totals = numpy.zeros((threads, f, ckk), dtype=gz.dtype)   # a sum per thread
        chunk = block_size(n, ckk * p)
        buffer = numpy.empty((threads, ckk * chunk * p), dtype=gz.dtype)
        gbuffer = numpy.empty((threads, f * chunk * p), dtype=gz.dtype)
        for t in numba.prange(threads):          # one worker per core, its own buffers
            for block in range(t, (n + chunk - 1) // chunk, threads):
                n0 = block * chunk
                n1 = min(n, n0 + chunk)
                cols = block_view(buffer, t, ckk, (n1 - n0) * p)
                g = block_view(gbuffer, t, f, (n1 - n0) * p)
                unfold(x, n0, n1, c, kh, kw, oh, ow, cols)
                gather_gradient(gz, n0, n1, f, oh, ow, g)
                numpy_blas.gemm_into(totals[t], 1.0, g, cols.T, 1.0)
        total = totals.sum(axis=0)
        out = numpy.empty(filters.shape, dtype=filters.dtype)
        for k in range(f):
            for ci in range(c):
                for u in range(kh):
                    for v in range(kw):
                        out[k, ci, kh - 1 - u, kw - 1 - v] = total[k, (ci * kh + u) * kw + v]
        return out

    @njit(parallel=parallel)
    def conv2d_grad_inputs(gz, filters, x):
        check_fit(x, filters)
        c, h, w, kh, kw, oh, ow = dims(x, filters)
        n, f, p, ckk = x.shape[0], filters.shape[0], oh * ow, c * kh * kw
        weights_t = turned_matrix(filters).astype(gz.dtype).T.copy()   # (ckk, f)
        gx = numpy.zeros((n, c, h, w), dtype=x.dtype)
        chunk = block_size(n, ckk * p)
        threads = workers()
        gbuffer = numpy.empty((threads, f * chunk * p), dtype=gz.dtype)
        cbuffer = numpy.empty((threads, ckk * chunk * p), dtype=gz.dtype)
        for t in numba.prange(threads):          # one worker per core, its own buffers
            for block in range(t, (n + chunk - 1) // chunk, threads):
                n0 = block * chunk
                n1 = min(n, n0 + chunk)
                g = block_view(gbuffer, t, f, (n1 - n0) * p)
                cols = block_view(cbuffer, t, ckk, (n1 - n0) * p)
                gather_gradient(gz, n0, n1, f, oh, ow, g)
                numpy_blas.gemm_into(cols, 1.0, weights_t, g, 0.0)
                fold_into(gx, n0, n1, c, kh, kw, oh, ow, cols)
        return gx

    return conv2d_valid, conv2d_grad_filters, conv2d_grad_inputs


def maxpool_kernel(ph, pw):
    @njit
    def maxpool(x):
        n, c, h, w = x.shape
        oh = h // ph
        ow = w // pw
        out = numpy.empty((n, c, oh, ow), dtype=x.dtype)
        for ni in range(n):
            for ci in range(c):
                for i in range(oh):
                    for j in range(ow):
                        m = x[ni, ci, i * ph, j * pw]
                        for a in range(ph):
                            for b in range(pw):
                                m = max(m, x[ni, ci, i * ph + a, j * pw + b])
                        out[ni, ci, i, j] = m
        return out
    return maxpool


def maxpoolgrad_kernel(ph, pw):
    @njit
    def maxpoolgrad(x, maxima, gz):
        n, c, h, w = x.shape
        oh = h // ph
        ow = w // pw
        gx = numpy.empty((n, c, h, w), dtype=gz.dtype)
        zero = gx.dtype.type(0)
        for ni in range(n):
            for ci in range(c):
                # every pixel written once: the block's gradient where it is
                # the block's maximum, zero elsewhere
                for bi in range(oh):
                    for a in range(ph):
                        i = bi * ph + a
                        for bj in range(ow):
                            m = maxima[ni, ci, bi, bj]
                            g = gz[ni, ci, bi, bj]
                            for b in range(pw):
                                j = bj * pw + b
                                gx[ni, ci, i, j] = g if x[ni, ci, i, j] == m else zero
                        for j in range(ow * pw, w):       # columns left over
                            gx[ni, ci, i, j] = zero
                for i in range(oh * ph, h):               # rows left over
                    for j in range(w):
                        gx[ni, ci, i, j] = zero
        return gx
    return maxpoolgrad


def install(patches):
    conv = _ops()
    if conv is None:
        return
    # Numba starts its worker threads when it compiles a parallel function;
    # a kernel loaded from the disk cache in a process that compiled none
    # (a resumed run's first call) would jump into threads never started:
    # a segmentation fault. Start them now (Numba's own, idempotent call).
    from numba.np.ufunc import parallel as numba_parallel
    numba_parallel._launch_threads()

    # the blocks go to all cores, each product at one BLAS thread: set so
    # for the whole of every function with a convolution in it (see
    # OneBlasThread); where NumPy's OpenBLAS cannot be set, only if it runs
    # at one thread already
    guard = one_blas_thread()
    parallel = numba.config.NUMBA_NUM_THREADS > 1 and (guard is not None or blas_threads() == 1)

    def convolution(which, image_input, filters_input):
        def implementation(op, node, **kwargs):
            if len({v.type.dtype for v in node.inputs + node.outputs}) > 1:
                # mixed float32 and float64: the NumPy code, which upcasts
                return numba_basic.generate_fallback_impl(op, node, **kwargs), None
            image = node.inputs[image_input].type.shape
            filters = node.inputs[filters_input].type.shape
            sizes = tuple(-1 if s is None else int(s)
                          for s in (image[1], image[2], image[3], filters[2], filters[3]))
            kernel = convolution_kernels(sizes, parallel)[which]
            workers = numba.config.NUMBA_NUM_THREADS if parallel else 1
            return kernel, f"dlt-{type(op).__name__}-{sizes}-{workers}-{key()}"
        return implementation

    def pooling(make):
        def implementation(op, node, **kwargs):
            return make(op.ph, op.pw), f"dlt-{type(op).__name__}-{op.ph}-{op.pw}-{key()}"
        return implementation

    register = numba_basic.register_funcify_and_cache_key
    # inputs: Conv2d (x, filters), GradFilters (x, gz, filters), GradInputs (gz, filters, x)
    patches.funcify(register, conv.Conv2d, convolution(0, 0, 1))
    patches.funcify(register, conv.Conv2dGradFilters, convolution(1, 0, 2))
    patches.funcify(register, conv.Conv2dGradInputs, convolution(2, 2, 1))
    patches.funcify(register, conv.MaxPool, pooling(maxpool_kernel))
    patches.funcify(register, conv.MaxPoolGrad, pooling(maxpoolgrad_kernel))
    if parallel and guard is not None:
        wrap_functions_with_convolutions(patches, conv, guard)


def wrap_functions_with_convolutions(patches, conv, guard):
    from pytensor.link.numba.linker import NumbaLinker
    ops = (conv.Conv2d, conv.Conv2dGradFilters, conv.Conv2dGradInputs)
    compile_graph = NumbaLinker.jit_compile

    def jit_compile(linker, fn_and_cache):
        compiled = compile_graph(linker, fn_and_cache)
        if any(isinstance(node.op, ops) for node in linker.fgraph.apply_nodes):
            return guard.around(compiled)
        return compiled
    patches.setattr(NumbaLinker, "jit_compile", jit_compile)
