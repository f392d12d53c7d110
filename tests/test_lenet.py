"""convolutional_mlp.py and code/conv.py: the convolution and the pooling
against SciPy and NumPy, their gradients against finite differences (the
NumPy reference and the plug-in's compiled kernels alike), the layer's
weights, and the original's test call."""
import numpy
import pytest
import scipy.signal

import pytensor
import pytensor.tensor as pt

import numba_speedups
import convolutional_mlp
from conv import conv2d, max_pool_2d
from convolutional_mlp import LeNetConvPoolLayer

FLOATS = ["float32", "float64"]
# (image shape, filter shape): square and not, one channel and several,
# a filter as large as the image, a 1-wide filter
SHAPES = [((3, 2, 7, 6), (4, 2, 3, 2)),
          ((2, 1, 5, 5), (3, 1, 5, 5)),
          ((1, 3, 4, 9), (2, 3, 4, 1))]


@pytest.fixture(params=["numpy", "compiled"])
def impl(request):
    """Each test runs twice: on the ops' NumPy code (stock PyTensor runs it in
    object mode) and on the plug-in's compiled kernels."""
    if request.param == "compiled":
        assert numba_speedups.install()
        yield request.param
        numba_speedups.uninstall()
    else:
        assert not numba_speedups.installed()
        yield request.param


def scipy_conv(images, filters):
    """Theano's conv2d, written with SciPy: a true 2-d convolution per
    (image, filter) pair, summed over the input maps."""
    return numpy.array([[sum(scipy.signal.convolve2d(image[c], kernel[c], mode="valid")
                             for c in range(images.shape[1]))
                         for kernel in filters] for image in images])


def numpy_pool(x, ph, pw):
    n, c, h, w = x.shape
    out = numpy.empty((n, c, h // ph, w // pw), dtype=x.dtype)
    for i in range(h // ph):
        for j in range(w // pw):
            out[:, :, i, j] = x[:, :, i * ph:(i + 1) * ph, j * pw:(j + 1) * pw].max(axis=(2, 3))
    return out


def tolerance(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("image_shape, filter_shape", SHAPES)
@pytest.mark.parametrize("static", [False, True])
def test_conv2d_is_scipys_convolution(impl, dtype, image_shape, filter_shape, static):
    rng = numpy.random.default_rng(sum(image_shape))
    images = rng.normal(size=image_shape).astype(dtype)
    filters = rng.normal(size=filter_shape).astype(dtype)
    x, w = pt.tensor4("x", dtype=dtype), pt.tensor4("w", dtype=dtype)
    hints = dict(filter_shape=filter_shape, image_shape=image_shape) if static else {}
    out = pytensor.function([x, w], conv2d(x, w, **hints))(images, filters)
    assert out.dtype == dtype
    numpy.testing.assert_allclose(out, scipy_conv(images.astype("float64"),
                                                  filters.astype("float64")), **tolerance(dtype))


@pytest.mark.parametrize("image_shape, filter_shape", SHAPES)
@pytest.mark.parametrize("static", [False, True])
def test_conv2d_gradients_match_finite_differences(impl, image_shape, filter_shape, static):
    rng = numpy.random.default_rng(7)
    hints = dict(filter_shape=filter_shape, image_shape=image_shape) if static else {}
    pytensor.gradient.verify_grad(lambda x, w: conv2d(x, w, **hints),
                                  [rng.normal(size=image_shape), rng.normal(size=filter_shape)],
                                  rng=numpy.random.RandomState(0))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape, poolsize", [((2, 3, 8, 8), (2, 2)), ((2, 1, 7, 7), (2, 3)),
                                             ((1, 2, 5, 4), (1, 1)), ((1, 1, 3, 5), (3, 5))])
def test_max_pool_keeps_each_blocks_maximum(impl, dtype, shape, poolsize):
    x = numpy.random.default_rng(3).normal(size=shape).astype(dtype)
    v = pt.tensor4(dtype=dtype)
    out = pytensor.function([v], max_pool_2d(v, poolsize))(x)
    # rows and columns left over at the bottom and the right are dropped
    numpy.testing.assert_array_equal(out, numpy_pool(x, *poolsize))


@pytest.mark.parametrize("shape, poolsize", [((2, 3, 8, 8), (2, 2)), ((2, 1, 7, 7), (2, 3))])
def test_max_pool_gradient_matches_finite_differences(impl, shape, poolsize):
    x = numpy.random.default_rng(4).normal(size=shape)
    pytensor.gradient.verify_grad(lambda v: max_pool_2d(v, poolsize), [x],
                                  rng=numpy.random.RandomState(0))


def test_max_pool_gradient_goes_to_every_tied_maximum_and_nowhere_else(impl):
    x = numpy.zeros((1, 1, 5, 4))
    x[0, 0, 0, 0] = x[0, 0, 1, 1] = 3.0          # a tie in the first block
    x[0, 0, 2, 3] = 1.0                          # a clear maximum in another
    x[0, 0, 4, :] = 9.0                          # the leftover row: never pooled
    v = pt.tensor4()
    weights = numpy.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    grad = pytensor.function([v], pt.grad((max_pool_2d(v, (2, 2)) * weights).sum(), v))(x)
    expected = numpy.zeros_like(x)
    expected[0, 0, 0, 0] = expected[0, 0, 1, 1] = 1.0    # block (0, 0): the two 3s
    expected[0, 0, 0:2, 2:4] = 2.0                       # all zeros: every entry ties
    expected[0, 0, 2:4, 0:2] = 3.0                       # the same
    expected[0, 0, 2, 3] = 4.0                           # block (1, 1): its 1 alone
    numpy.testing.assert_array_equal(grad, expected)


@pytest.mark.parametrize("image, filters, fragment", [
    ((1, 1, 3, 3), (1, 1, 4, 2), "does not fit"),
    ((1, 2, 5, 5), (1, 3, 2, 2), "channels"),
])
def test_shapes_that_do_not_match_are_refused(impl, image, filters, fragment):
    x, w = pt.tensor4(), pt.tensor4()
    fn = pytensor.function([x, w], conv2d(x, w))
    with pytest.raises(ValueError, match=fragment):
        fn(numpy.zeros(image), numpy.zeros(filters))


def test_pool_sizes_and_dimensions_are_checked():
    with pytest.raises(ValueError, match="positive"):
        max_pool_2d(pt.tensor4(), (0, 2))
    with pytest.raises(TypeError, match="4-d"):
        max_pool_2d(pt.matrix(), (2, 2))
    with pytest.raises(TypeError, match="4-d"):
        conv2d(pt.matrix(), pt.tensor4())


def test_layer_draws_the_originals_weights_and_computes_its_formula(impl):
    filter_shape, image_shape = (4, 2, 3, 3), (3, 2, 8, 8)
    x = pt.tensor4("x")
    layer = LeNetConvPoolLayer(numpy.random.RandomState(23455), x, filter_shape, image_shape)
    fan_in = 2 * 3 * 3
    fan_out = 4 * 3 * 3 / 4
    bound = numpy.sqrt(6.0 / (fan_in + fan_out))
    expected = numpy.random.RandomState(23455).uniform(-bound, bound, size=filter_shape)
    numpy.testing.assert_array_equal(layer.W.get_value(), expected)
    assert layer.params == [layer.W, layer.b] and layer.input is x
    layer.b.set_value(numpy.array([0.1, -0.2, 0.3, 0.0]))
    images = numpy.random.default_rng(5).normal(size=image_shape)
    reference = numpy.tanh(numpy_pool(scipy_conv(images, expected), 2, 2)
                           + layer.b.get_value()[None, :, None, None])
    numpy.testing.assert_allclose(layer.output.eval({x: images}), reference, rtol=1e-12)
    with pytest.raises(ValueError, match="input maps"):
        LeNetConvPoolLayer(numpy.random.RandomState(1), x, (4, 3, 3, 3), image_shape)


def test_the_originals_test_call(tmp_path, monkeypatch, capsys):
    """The original test suite's call, on the bundled MNIST, with the
    compiled kernels a user's run gets."""
    monkeypatch.chdir(tmp_path)
    pytensor.config.floatX = "float32"
    assert numba_speedups.install()
    result = convolutional_mlp.evaluate_lenet5(n_epochs=1, nkerns=[5, 5])
    printed = capsys.readouterr().out.splitlines()
    assert result.epochs == 1 and result.best_iter == 100      # 50,000 / 500 minibatches
    assert printed.count("training @ iter =  0") == 1
    assert printed[-2:] == [
        "Optimization complete.",
        "Best validation score of %f %% obtained at iteration %i, with test performance %f %%"
        % (result.best_validation_loss * 100, result.best_iter, result.test_score * 100)]
    assert 0 < result.best_validation_loss < 0.5 and 0 < result.test_score < 0.5
    from PIL import Image
    # 5 filters of 5x5 with 1 pixel between them, drawn 8 times larger
    assert Image.open(tmp_path / "lenet_out" / "filters_layer0.png").size == (
        8 * (5 * 6 - 1), 8 * 5)
    # 4 digits, each with its 5 maps: 6 tiles of 12x12 across, 4 down, 4 times larger
    assert Image.open(tmp_path / "lenet_out" / "feature_maps.png").size == (
        4 * (6 * 13 - 1), 4 * (4 * 13 - 1))


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(learning_rate=0), "learning_rate"),
    (dict(nkerns=[5]), "nkerns"),
    (dict(nkerns=[5, 0]), "nkerns"),
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=150), "larger than the 120 validation examples"),
])
def test_bad_arguments_fail_before_compiling(small_mnist, tmp_path, no_compiling,
                                             kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        convolutional_mlp.evaluate_lenet5(dataset=small_mnist, output_folder=str(tmp_path),
                                          **kwargs)


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("static", [False, True])
def test_compiled_kernels_one_block_after_another_or_shared_between_cores(parallel, static):
    """The plug-in's kernels themselves, in both of their forms (blocks in
    turn, or blocks shared out between the cores, BLAS at one thread),
    on a batch of many blocks: forward and both gradients against NumPy."""
    import numba
    assert numba_speedups.install()
    try:
        from numba_speedups import conv as compiled
        rng = numpy.random.default_rng(11)
        # 8 * 5 * 5 * 16 * 16 numbers of columns per image: blocks of 2 images,
        # 19 blocks, the last one short
        x = rng.normal(size=(37, 8, 20, 20))
        w = rng.normal(size=(5, 8, 5, 5))
        gz = rng.normal(size=(37, 5, 16, 16))
        assert compiled.BLOCK // (8 * 5 * 5 * 16 * 16) == 2
        sizes = (8, 20, 20, 5, 5) if static else (-1, -1, -1, -1, -1)
        forward, grad_filters, grad_inputs = compiled.convolution_kernels(sizes, parallel)

        @numba.njit
        def run(x, w, gz):
            return forward(x, w), grad_filters(x, gz, w), grad_inputs(gz, w, x)
        out, gw, gx = run(x, w, gz)
        numpy.testing.assert_allclose(out, scipy_conv(x, w), rtol=1e-12, atol=1e-12)
        v, f = pt.tensor4(), pt.tensor4()
        cost = (conv2d(v, f) * gz).sum()
        numpy_gw, numpy_gx = pytensor.function([v, f], pt.grad(cost, [f, v]),
                                               mode="FAST_COMPILE")(x, w)
        numpy.testing.assert_allclose(gw, numpy_gw, rtol=1e-10, atol=1e-10)
        numpy.testing.assert_allclose(gx, numpy_gx, rtol=1e-10, atol=1e-10)
    finally:
        numba_speedups.uninstall()


def test_one_blas_thread_while_a_function_runs_and_its_count_back_after():
    """OneBlasThread: one BLAS thread inside, the count as it was after (also
    after an error), and calls that overlap (nested, or from two threads)
    counted, so that the last to leave puts the count back."""
    import threading
    assert numba_speedups.install()
    try:
        from numba_speedups import conv as compiled
        guard = compiled.one_blas_thread()
        assert guard is not None        # NumPy's wheel brings OpenBLAS
        before = guard._get()
        try:
            guard._set(2)
            seen = []
            inner = guard.around(lambda: seen.append(guard._get()))
            outer = guard.around(lambda: (seen.append(guard._get()), inner(),
                                          seen.append(guard._get())))
            outer()
            assert seen == [1, 1, 1] and guard._get() == 2

            def fails():
                raise RuntimeError("inside")
            with pytest.raises(RuntimeError, match="inside"):
                guard.around(fails)()
            assert guard._get() == 2

            inside, leave = threading.Event(), threading.Event()

            def long_call():
                inside.set()
                leave.wait(10)
            other = threading.Thread(target=guard.around(long_call))
            other.start()
            assert inside.wait(10)
            guard.around(lambda: None)()      # in and out while the other runs
            assert guard._get() == 1
            leave.set()
            other.join(10)
            assert guard._get() == 2

            guard._set(1)                   # one thread already: left at one
            guard.around(lambda: seen.append(guard._get()))()
            assert seen[-1] == 1 and guard._get() == 1
        finally:
            guard._set(before)
    finally:
        numba_speedups.uninstall()


def test_shared_out_kernels_do_their_blocks_in_turn_when_blas_has_threads():
    """A shared-out kernel called with OpenBLAS at two threads (outside
    OneBlasThread) runs its blocks in turn on one worker: its filters'
    gradient is then bit for bit the one-worker kernel's (one running sum);
    with one BLAS thread the two workers' partial sums make other last bits."""
    import numba
    assert numba_speedups.install()
    try:
        from numba_speedups import conv as compiled
        guard = compiled.one_blas_thread()
        before = guard._get()
        rng = numpy.random.default_rng(14)
        x = rng.normal(size=(37, 8, 20, 20))
        w = rng.normal(size=(5, 8, 5, 5))
        gz = rng.normal(size=(37, 5, 16, 16))
        sizes = (8, 20, 20, 5, 5)

        def filters_gradient(parallel):
            grad_filters = compiled.convolution_kernels(sizes, parallel)[1]
            return numba.njit(lambda x, gz, w: grad_filters(x, gz, w))(x, gz, w)
        try:
            guard._set(2)
            in_turn = filters_gradient(False)
            assert numpy.array_equal(filters_gradient(True), in_turn)
            guard._set(1)
            shared = filters_gradient(True)
            assert not numpy.array_equal(shared, in_turn)
            numpy.testing.assert_allclose(shared, in_turn, rtol=1e-12, atol=1e-12)
        finally:
            guard._set(before)
    finally:
        numba_speedups.uninstall()


def test_only_functions_with_a_convolution_are_wrapped():
    """With the plug-in and more than one core, a function with a
    convolution runs inside OneBlasThread (its compiled graph wrapped), one
    without runs bare; uninstall() puts PyTensor's compile back."""
    import numba
    from pytensor.link.numba.linker import NumbaLinker
    stock = NumbaLinker.jit_compile
    assert numba.config.NUMBA_NUM_THREADS > 1    # the machines this runs on: 2 cores
    rng = numpy.random.default_rng(13)
    images, filters = rng.normal(size=(3, 2, 7, 6)), rng.normal(size=(4, 2, 3, 2))
    assert numba_speedups.install()
    try:
        x, w = pt.tensor4(), pt.tensor4()
        with_conv = pytensor.function([x, w], conv2d(x, w))
        without = pytensor.function([x, w], x.sum() + w.sum())
        assert with_conv.vm.jit_fn.__name__ == "at_one_blas_thread"
        assert without.vm.jit_fn.__name__ == "numba_funcified_fgraph"   # Numba's dispatcher
        numpy.testing.assert_allclose(with_conv(images, filters), scipy_conv(images, filters),
                                      rtol=1e-12, atol=1e-12)
    finally:
        numba_speedups.uninstall()
    assert NumbaLinker.jit_compile is stock


def test_mixed_float32_and_float64_upcast_like_numpy(impl):
    rng = numpy.random.default_rng(12)
    images = rng.normal(size=(2, 2, 6, 5)).astype("float32")
    filters = rng.normal(size=(3, 2, 3, 3))
    x, w = pt.tensor4(dtype="float32"), pt.tensor4(dtype="float64")
    out = pytensor.function([x, w], conv2d(x, w))(images, filters)
    assert out.dtype == "float64"
    numpy.testing.assert_allclose(out, scipy_conv(images.astype("float64"), filters),
                                  rtol=1e-12, atol=1e-12)


def test_resuming_a_finished_run_with_the_kernels_cached(small_mnist, tmp_path):
    """The second run compiles nothing: its first compiled call (the pictures)
    runs a parallel kernel straight from the disk cache, which crashed before
    the plug-in started Numba's threads itself."""
    import subprocess
    from conftest import command
    first = subprocess.run(command("convolutional_mlp.py", small_mnist, tmp_path),
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    again = subprocess.run(command("convolutional_mlp.py", small_mnist, tmp_path, "--resume"),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.splitlines()[-1] == first.stdout.splitlines()[-1]
