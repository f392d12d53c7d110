"""Exercise 7: max-pooling, and the output of a LeNet layer.

Write max_pool and layer_output (chapter: Convolutional networks). Run this
file to see the feature maps of a few digits through random filters
(feature_maps.png); ``python -m exercises check 7`` checks your code.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from exercises import todo  # noqa: E402

import pytensor.tensor as pt  # noqa: E402,F401

from conv import conv2d  # noqa: E402,F401


def max_pool(input, poolsize):
    """The largest value of each non-overlapping poolsize = (rows, columns)
    block of each map of input, a 4-d tensor (images, maps, rows, columns).
    Rows and columns left over at the bottom and right are dropped, so a
    7 x 7 map pooled by (2, 2) gives 3 x 3.

    Use PyTensor operations on symbolic shapes (input.shape[2] // rows,
    slicing, reshape, max over axes), not conv.max_pool_2d: it is the answer
    key the checker compares you with.
    """
    return todo("Exercise 7: max_pool")


def layer_output(input, W, b, poolsize):
    """What a LeNetConvPoolLayer outputs: the convolution of input with the
    filters W (conv2d), pooled by your max_pool, plus the bias b (one number
    per filter, broadcast over images, rows and columns), through tanh."""
    return todo("Exercise 7: layer_output")


if __name__ == "__main__":
    from exercises.demos import show_feature_maps
    show_feature_maps(max_pool, layer_output)
