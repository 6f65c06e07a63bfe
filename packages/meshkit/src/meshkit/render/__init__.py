"""Headless rendering of meshes (normal, clay, base colour, environment-lit PBR) with numpy and a C++ rasterizer."""

from .cameras import Camera, intrinsics_from_fov, look_at, orbit_camera
from .envmap import PrefilteredEnvironment, load_exr, prefilter_environment
from .renderer import render_mesh

__all__ = ["Camera", "PrefilteredEnvironment", "intrinsics_from_fov", "load_exr", "look_at", "orbit_camera",
           "prefilter_environment", "render_mesh"]
