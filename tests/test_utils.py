"""tile_raster_images and scale_to_unit_interval: shapes, placement, channels."""
import numpy
import pytest

from utils import scale_to_unit_interval, tile_raster_images


def test_scale_to_unit_interval():
    x = numpy.array([[2.0, 4.0], [6.0, 10.0]])
    out = scale_to_unit_interval(x)
    numpy.testing.assert_allclose(out, (x - 2) / 8, rtol=1e-7)
    assert x[0, 0] == 2.0          # the input is left alone


@pytest.mark.parametrize("img, tiles, spacing", [
    ((28, 28), (10, 10), (1, 1)), ((3, 5), (2, 4), (0, 0)), ((4, 2), (3, 1), (2, 3))])
def test_output_shape(img, tiles, spacing):
    X = numpy.random.default_rng(0).random((tiles[0] * tiles[1], img[0] * img[1]))
    out = tile_raster_images(X, img, tiles, spacing)
    expected = tuple((i + s) * t - s for i, t, s in zip(img, tiles, spacing))
    assert out.shape == expected and out.dtype == numpy.uint8


def test_pixel_placement_grey():
    # four 2x3 images with distinct known contents, laid out 2 by 2, spacing (1, 2)
    images = [numpy.arange(6, dtype=float).reshape(2, 3) + 10 * k for k in range(4)]
    X = numpy.stack([im.ravel() for im in images])
    out = tile_raster_images(X, (2, 3), (2, 2), (1, 2), scale_rows_to_unit_interval=False,
                             output_pixel_vals=False)
    assert out.shape == (5, 8)
    for k, im in enumerate(images):
        row, col = divmod(k, 2)
        top, left = row * 3, col * 5
        numpy.testing.assert_array_equal(out[top:top + 2, left:left + 3], im)
    # the spacing stays blank
    assert (out[2, :] == 0).all() and (out[:, 3:5] == 0).all()


def test_each_tile_is_scaled_on_its_own_and_converted_to_bytes():
    X = numpy.array([[0.0, 1.0, 2.0, 4.0], [100.0, 100.5, 101.0, 102.0]])
    out = tile_raster_images(X, (2, 2), (1, 2), (0, 0))
    # each image spans 0..255 after its own scaling; bytes are truncated
    numpy.testing.assert_array_equal(out[:, :2], [[0, 63], [127, 254]])
    numpy.testing.assert_array_equal(out[:, 2:], [[0, 63], [127, 254]])


def test_fewer_images_than_tiles_leaves_blanks():
    X = numpy.ones((3, 4))
    out = tile_raster_images(X, (2, 2), (2, 2), (0, 0), scale_rows_to_unit_interval=False)
    assert (out[:2, :2] == 255).all() and (out[2:, 2:] == 0).all()


def test_rgba_channels_and_defaults():
    rng = numpy.random.default_rng(1)
    red = rng.random((4, 6))
    green = rng.random((4, 6))
    out = tile_raster_images((red, green, None, None), (2, 3), (2, 2), (1, 1))
    assert out.shape == (5, 7, 4) and out.dtype == numpy.uint8
    numpy.testing.assert_array_equal(out[:, :, 0], tile_raster_images(red, (2, 3), (2, 2), (1, 1)))
    numpy.testing.assert_array_equal(out[:, :, 1],
                                     tile_raster_images(green, (2, 3), (2, 2), (1, 1)))
    assert (out[:, :, 2] == 0).all()       # missing colour: black
    assert (out[:, :, 3] == 255).all()     # missing alpha: opaque


def test_rgba_as_floats():
    blue = numpy.random.default_rng(2).random((2, 4)).astype(numpy.float32)
    out = tile_raster_images((None, None, blue, None), (2, 2), (1, 2), (0, 0),
                             output_pixel_vals=False)
    assert out.shape == (2, 4, 4) and out.dtype == numpy.float32
    assert (out[:, :, 3] == 1.0).all() and (out[:, :, 0] == 0.0).all()
    assert out[:, :, 2].min() == 0.0 and out[:, :, 2].max() == pytest.approx(1.0, abs=1e-6)
