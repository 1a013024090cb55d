"""The one place that owns the coordinate convention (SOFA / AES69, see docs/conventions.md).

Directions: azimuth in degrees, 0 = straight ahead, positive = to the LEFT (counter-clockwise seen from above);
elevation in degrees, positive = up; distance in metres. Cartesian: x = front, y = left, z = up.
Image coordinates: x grows to the right, y grows downwards; a source right of the image centre has negative
azimuth. The camera is a pinhole looking along +x with a horizontal field of view ``fov`` (degrees).
"""
from __future__ import annotations

import numpy as np

DEFAULT_FOV_DEG = 70.0
"""Default horizontal field of view: a typical phone main camera in landscape (26 mm equivalent is ~70 deg)."""


def wrap_azimuth(az_deg):
    """Wrap azimuth(s) in degrees to (-180, 180]."""
    a = np.mod(np.asarray(az_deg, dtype=float) + 180.0, 360.0) - 180.0
    return np.where(a == -180.0, 180.0, a)


def sph_to_cart(az_deg, el_deg, r=1.0) -> np.ndarray:
    """(azimuth, elevation) in degrees and distance in metres -> [..., 3] Cartesian (x front, y left, z up)."""
    az = np.deg2rad(np.asarray(az_deg, dtype=float))
    el = np.deg2rad(np.asarray(el_deg, dtype=float))
    r = np.asarray(r, dtype=float)
    return np.stack([r * np.cos(el) * np.cos(az), r * np.cos(el) * np.sin(az), r * np.sin(el)], axis=-1)


def cart_to_sph(xyz) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[..., 3] Cartesian (x front, y left, z up) -> (azimuth deg, elevation deg, distance m)."""
    xyz = np.asarray(xyz, dtype=float)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    r = np.sqrt(x * x + y * y + z * z)
    az = np.rad2deg(np.arctan2(y, x))
    el = np.rad2deg(np.arctan2(z, np.sqrt(x * x + y * y)))
    return az, el, r


def horizontal_fov(fov_deg: float | None, width: int, height: int) -> float:
    """The horizontal field of view (degrees) of a ``width x height`` picture: ``fov_deg`` when given, else the
    default camera's, :data:`DEFAULT_FOV_DEG` across the picture's longer side: a phone held upright films the
    same angle from top to bottom, so across a 9:16 picture 2 atan(tan(35 deg) 9 / 16) = 43 deg."""
    if fov_deg:
        return float(fov_deg)
    if width and height and height > width:
        return float(np.rad2deg(2.0 * np.arctan(np.tan(np.deg2rad(DEFAULT_FOV_DEG) / 2.0) * width / height)))
    return DEFAULT_FOV_DEG


def focal_length_px(width: int, fov_deg: float) -> float:
    """Pinhole focal length in pixels for an image ``width`` pixels wide with horizontal field of view ``fov_deg``."""
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"field of view must be in (0, 180) degrees, got {fov_deg}")
    return (width / 2.0) / np.tan(np.deg2rad(fov_deg) / 2.0)


def pixel_to_direction(x_px, y_px, width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG):
    """Pixel position -> (azimuth deg, elevation deg) of the ray through it (pinhole camera, square pixels).

    ``x_px`` in [0, width] from the left edge, ``y_px`` in [0, height] from the top edge. The image centre maps to
    (0, 0); the left edge to azimuth +fov/2, the right edge to -fov/2; the top edge has positive elevation.
    """
    f = focal_length_px(width, fov_deg)
    dx = np.asarray(x_px, dtype=float) - width / 2.0
    dy = np.asarray(y_px, dtype=float) - height / 2.0
    az = np.rad2deg(np.arctan2(-dx, f))
    el = np.rad2deg(np.arctan2(-dy, np.sqrt(f * f + dx * dx)))
    return az, el


def direction_to_pixel(az_deg, el_deg, width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG):
    """Inverse of :func:`pixel_to_direction` for directions in front of the camera -> (x_px, y_px)."""
    f = focal_length_px(width, fov_deg)
    xyz = sph_to_cart(az_deg, el_deg)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    if np.any(x <= 0):
        raise ValueError("direction is behind the camera")
    return width / 2.0 - f * y / x, height / 2.0 - f * z / x


def great_circle_deg(az1, el1, az2, el2) -> np.ndarray:
    """Angle in degrees between directions (broadcasts)."""
    a = sph_to_cart(az1, el1)
    b = sph_to_cart(az2, el2)
    c = np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)
    return np.rad2deg(np.arccos(c))
