"""Convolution and max-pooling for images: not a lesson, the support of one.

PyTensor 3.0 lost Theano's ``conv2d`` and ``pool_2d``. This module gives
them back under the names the LeNet chapter uses:

    conv2d(input, filters)        Theano's conv2d: a true convolution ("valid")
    max_pool_2d(input, poolsize)  max over non-overlapping blocks, no padding

Both take and return 4-d tensors (batch, channels, rows, columns).

Five ops, as in Theano: the convolution, its two gradients (with respect
to the filters and to the input; each is itself a convolution) and the
pooling with its gradient. Each op's ``perform`` is plain NumPy, the
reference the tests hold everything else to. The ``numba_speedups`` plug-in
gives them compiled code (patches unfolded into columns a few images at a
time, one BLAS product per block: numba_speedups/conv.py). Without the
plug-in, PyTensor's Numba backend runs the NumPy code in object mode and
warns once per op (a script says it in one line instead: expect_object_mode).
"""
import warnings

import numpy
from numpy.lib.stride_tricks import as_strided

import pytensor
import pytensor.scalar
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.gradient import disconnected_type


def _patches(x, kh, kw):
    """View of x (N, C, H, W) as (N, C, kh, kw, OH, OW): patches[n, c, u, v, i, j] =
    x[n, c, i + u, j + v]. No copy."""
    n, c, h, w = x.shape
    s = x.strides
    return as_strided(x, (n, c, kh, kw, h - kh + 1, w - kw + 1),
                      (s[0], s[1], s[2], s[3], s[2], s[3]), writeable=False)


def _check_fit(image, filters):
    if image[2] < filters[2] or image[3] < filters[3]:
        raise ValueError(f"a {filters[2]}x{filters[3]} filter does not fit in a "
                         f"{image[2]}x{image[3]} image")
    if image[1] != filters[1]:
        raise ValueError(f"the image has {image[1]} channels, the filters {filters[1]}")


class Conv2d(Op):
    """Theano's conv2d, border_mode 'valid': inputs x (N, C, H, W) and filters
    (F, C, kh, kw), output (N, F, H - kh + 1, W - kw + 1)."""
    __props__ = ()

    def make_node(self, x, filters):
        x, filters = pt.as_tensor_variable(x), pt.as_tensor_variable(filters)
        if x.ndim != 4 or filters.ndim != 4:
            raise TypeError("conv2d takes a 4-d input and 4-d filters, got "
                            f"{x.ndim} and {filters.ndim} dimensions")
        dtype = pytensor.scalar.upcast(x.dtype, filters.dtype)
        (n, _, h, w), (f, _, kh, kw) = x.type.shape, filters.type.shape
        # the sizes known now travel on, so compiled code can be specialised
        shape = (n, f, None if None in (h, kh) else h - kh + 1,
                 None if None in (w, kw) else w - kw + 1)
        return Apply(self, [x, filters], [pt.tensor(dtype=dtype, shape=shape)])

    def perform(self, node, inputs, outputs):
        x, filters = inputs
        _check_fit(x.shape, filters.shape)
        # a true convolution: the filters turned round, slid over the patches
        turned = filters[:, :, ::-1, ::-1]
        out = numpy.tensordot(_patches(x, *filters.shape[2:]), turned,
                              axes=([1, 2, 3], [1, 2, 3]))      # (N, OH, OW, F)
        outputs[0][0] = numpy.ascontiguousarray(
            out.transpose(0, 3, 1, 2), dtype=node.outputs[0].dtype)

    def pullback(self, inputs, outputs, cotangents):
        x, filters = inputs
        (gz,) = cotangents
        return [Conv2dGradInputs()(gz, filters, x),
                Conv2dGradFilters()(x, gz, filters)]

    def infer_shape(self, fgraph, node, shapes):
        (n, c, h, w), (f, _, kh, kw) = shapes
        return [(n, f, h - kh + 1, w - kw + 1)]


class Conv2dGradFilters(Op):
    """The gradient of conv2d's cost with respect to the filters, from the
    input x and the output's gradient gz: itself a convolution of x with gz.
    The third input gives the filters' shape only."""
    __props__ = ()

    def make_node(self, x, gz, filters):
        x, gz, filters = map(pt.as_tensor_variable, (x, gz, filters))
        return Apply(self, [x, gz, filters], [filters.type()])

    def perform(self, node, inputs, outputs):
        x, gz, filters = inputs
        kh, kw = filters.shape[2:]
        # d out[n, f, i, j] / d filters[f, c, kh-1-u, kw-1-v] = x[n, c, i+u, j+v]
        g = numpy.tensordot(gz, _patches(x, kh, kw), axes=([0, 2, 3], [0, 4, 5]))
        outputs[0][0] = numpy.ascontiguousarray(g[:, :, ::-1, ::-1], dtype=filters.dtype)

    def connection_pattern(self, node):
        return [[True], [True], [False]]

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[2]]


class Conv2dGradInputs(Op):
    """The gradient with respect to conv2d's input: each output gradient
    spread back over the pixels its patch came from, through the filters (a
    'full' correlation). The third input gives the image's shape only."""
    __props__ = ()

    def make_node(self, gz, filters, x):
        gz, filters, x = map(pt.as_tensor_variable, (gz, filters, x))
        return Apply(self, [gz, filters, x], [x.type()])

    def perform(self, node, inputs, outputs):
        gz, filters, x = inputs
        f, c, kh, kw = filters.shape
        oh, ow = gz.shape[2:]
        turned = filters[:, :, ::-1, ::-1]
        gx = numpy.zeros(x.shape, dtype=x.dtype)
        for u in range(kh):
            for v in range(kw):
                # every output (i, j) saw pixel (i + u, j + v) through weight (u, v)
                gx[:, :, u:u + oh, v:v + ow] += numpy.einsum(
                    "nfij,fc->ncij", gz, turned[:, :, u, v])
        outputs[0][0] = gx

    def connection_pattern(self, node):
        return [[True], [True], [False]]

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[2]]


def conv2d(input, filters, filter_shape=None, image_shape=None):
    """Theano's conv2d (border_mode='valid'): out[n, f, i, j] = sum over c, u, v of
    input[n, c, i + u, j + v] * filters[f, c, kh - 1 - u, kw - 1 - v].

    input: (batch, channels, rows, columns); filters: (n filters, channels, kh, kw).
    filter_shape, image_shape: the shapes, when known in advance, as Theano
    took them; the compiled code is then made for them (and checks them).
    """
    input = pt.as_tensor_variable(input)
    filters = pt.as_tensor_variable(filters)
    if image_shape is not None:
        input = pt.specify_shape(input, tuple(image_shape))
    if filter_shape is not None:
        filters = pt.specify_shape(filters, tuple(filter_shape))
    return Conv2d()(input, filters)


class MaxPool(Op):
    """x (N, C, H, W) -> the maximum of each ph x pw block; rows and columns
    left over at the bottom and right are dropped (Theano's ignore_border)."""
    __props__ = ("ph", "pw")

    def __init__(self, ph, pw):
        self.ph, self.pw = int(ph), int(pw)

    def make_node(self, x):
        x = pt.as_tensor_variable(x)
        if x.ndim != 4:
            raise TypeError(f"max_pool_2d takes a 4-d tensor, got {x.ndim} dimensions")
        n, c, h, w = x.type.shape
        shape = (n, c, None if h is None else h // self.ph, None if w is None else w // self.pw)
        return Apply(self, [x], [pt.tensor(dtype=x.dtype, shape=shape)])

    def blocks(self, x):
        n, c, h, w = x.shape
        oh, ow = h // self.ph, w // self.pw
        return x[:, :, :oh * self.ph, :ow * self.pw].reshape(n, c, oh, self.ph, ow, self.pw)

    def perform(self, node, inputs, outputs):
        (x,) = inputs
        outputs[0][0] = self.blocks(x).max(axis=(3, 5))

    def pullback(self, inputs, outputs, cotangents):
        (x,) = inputs
        return [MaxPoolGrad(self.ph, self.pw)(x, outputs[0], cotangents[0])]

    def infer_shape(self, fgraph, node, shapes):
        n, c, h, w = shapes[0]
        return [(n, c, h // self.ph, w // self.pw)]


class MaxPoolGrad(Op):
    """The gradient of MaxPool: each block's output gradient goes to the
    inputs equal to the block's maximum (to all of them on a tie, as in
    Theano), zero elsewhere. Inputs: x, the pooled maxima, their gradient."""
    __props__ = ("ph", "pw")

    def __init__(self, ph, pw):
        self.ph, self.pw = int(ph), int(pw)

    def make_node(self, x, maxima, gz):
        x, maxima, gz = map(pt.as_tensor_variable, (x, maxima, gz))
        return Apply(self, [x, maxima, gz], [x.type()])

    def perform(self, node, inputs, outputs):
        x, maxima, gz = inputs
        gx = numpy.zeros_like(x)
        blocks = MaxPool(self.ph, self.pw).blocks(x)
        oh, ow = blocks.shape[2], blocks.shape[4]
        hit = blocks == maxima[:, :, :, None, :, None]
        gx[:, :, :oh * self.ph, :ow * self.pw] = (
            hit * gz[:, :, :, None, :, None]).reshape(x.shape[0], x.shape[1],
                                                     oh * self.ph, ow * self.pw)
        outputs[0][0] = gx

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[0]]


def max_pool_2d(input, poolsize):
    """Theano's pool_2d(input, ws=poolsize, ignore_border=True), mode 'max'."""
    ph, pw = poolsize
    if ph < 1 or pw < 1:
        raise ValueError(f"poolsize must be positive, got {poolsize}")
    return MaxPool(ph, pw)(input)


def expect_object_mode():
    """Stock PyTensor warns once per op that it runs the op's NumPy code in
    object mode; a script without the plug-in calls this to say it once,
    in one line of its own, instead. (It sets a warnings filter for these
    five ops' messages only, so it is for a script's main(), not a lesson.)"""
    names = "|".join(op.__name__ for op in (Conv2d, Conv2dGradFilters, Conv2dGradInputs,
                                            MaxPool, MaxPoolGrad))
    warnings.filterwarnings("ignore", category=UserWarning,
                            message=rf"Numba will use object mode to run ({names})\b")
    return ("  (without the speed-ups the convolution and pooling run as NumPy code, "
            "called from Numba in object mode: slower, same figures)")
