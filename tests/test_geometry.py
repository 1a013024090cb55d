import numpy as np
import pytest

from binauralize.dsp.geometry import (cart_to_sph, direction_to_pixel, focal_length_px, pixel_to_direction,
                                      sph_to_cart, wrap_azimuth)


def test_pixel_centre_and_edges():
    az, el = pixel_to_direction(320, 180, 640, 360, fov_deg=70)
    assert az == pytest.approx(0) and el == pytest.approx(0)
    assert pixel_to_direction(0, 180, 640, 360, 70)[0] == pytest.approx(35.0)  # left edge -> +fov/2
    assert pixel_to_direction(640, 180, 640, 360, 70)[0] == pytest.approx(-35.0)  # right edge -> -fov/2
    assert pixel_to_direction(320, 0, 640, 360, 70)[1] > 0  # top -> up


def test_pixel_round_trip():
    x, y = np.array([10.0, 500.0, 320.0]), np.array([20.0, 300.0, 180.0])
    az, el = pixel_to_direction(x, y, 640, 360, 60)
    x2, y2 = direction_to_pixel(az, el, 640, 360, 60)
    np.testing.assert_allclose(x2, x, atol=1e-9)
    np.testing.assert_allclose(y2, y, atol=1e-9)


def test_left_is_positive_y():
    xyz = sph_to_cart(90, 0)
    np.testing.assert_allclose(xyz, [0, 1, 0], atol=1e-12)
    az, el, r = cart_to_sph([1.0, -1.0, 0.0])
    assert az == pytest.approx(-45) and r == pytest.approx(np.sqrt(2))
    assert wrap_azimuth(270) == pytest.approx(-90) and wrap_azimuth(-180) == pytest.approx(180)


def test_default_field_of_view_spans_the_longer_side():
    from binauralize.dsp.geometry import DEFAULT_FOV_DEG, horizontal_fov

    assert horizontal_fov(None, 1920, 1080) == DEFAULT_FOV_DEG
    assert horizontal_fov(None, 1080, 1920) == pytest.approx(43.0, abs=0.1)  # an upright phone video
    assert horizontal_fov(None, 500, 500) == DEFAULT_FOV_DEG
    assert horizontal_fov(55.0, 1080, 1920) == 55.0  # given: kept
    # the same camera turned upright has the same focal length in pixels
    assert focal_length_px(1080, horizontal_fov(None, 1080, 1920)) == pytest.approx(
        focal_length_px(1920, DEFAULT_FOV_DEG))
