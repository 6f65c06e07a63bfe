"""Pinhole cameras: OpenCV-style extrinsics (world -> camera, x right, y down, z forward) and intrinsics normalised
by the image size (fx, fy, cx, cy as fractions of width/height)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Camera(NamedTuple):
    """A camera: ``extrinsics`` (4, 4) world-to-camera and normalised ``intrinsics`` (3, 3)."""

    extrinsics: np.ndarray
    intrinsics: np.ndarray


def intrinsics_from_fov(fov_degrees: float) -> np.ndarray:
    """Normalised intrinsics of a square-pixel camera with the given full field of view, principal point centred."""
    if not 0 < fov_degrees < 180:
        raise ValueError(f"fov_degrees must be in (0, 180), got {fov_degrees}")
    focal = 0.5 / np.tan(np.radians(fov_degrees) / 2)
    return np.array([[focal, 0, 0.5], [0, focal, 0.5], [0, 0, 1]], dtype=np.float64)


def look_at(eye: np.ndarray, target: np.ndarray, up: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """World-to-camera matrix of a camera at ``eye`` looking at ``target`` with ``up`` (default +Z) up on screen."""
    forward = np.asarray(target, float) - np.asarray(eye, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-9:  # looking straight along up: any right vector will do
        right = np.cross(forward, [1.0, 0.0, 0.0] if abs(forward[0]) < 0.9 else [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    extrinsics = np.eye(4)
    extrinsics[:3, :3] = rotation
    extrinsics[:3, 3] = -rotation @ np.asarray(eye, float)
    return extrinsics


def orbit_camera(yaw: float, pitch: float, radius: float, fov_degrees: float,
                 target: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Camera:
    """Camera on a sphere around ``target`` (Z-up world): ``yaw``/``pitch`` in radians, yaw 0 on +X, pitch up."""
    if radius <= 0:
        raise ValueError(f"radius must be positive, got {radius}")
    offset = radius * np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), np.sin(pitch)])
    return Camera(look_at(np.asarray(target) + offset, np.asarray(target, float)), intrinsics_from_fov(fov_degrees))
