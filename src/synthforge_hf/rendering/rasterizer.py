"""Choosing a rasterizer backend: one choice for the perspective head renders and Next3D's orthographic
texture views."""

from __future__ import annotations

from typing import Protocol

import torch

from .cameras import Cameras
from .fragments import Fragments

BACKENDS = ("auto", "zbuffer", "open3d", "pytorch3d")


class Rasterizer(Protocol):
    name: str

    def rasterize(
        self,
        vertices: torch.Tensor,
        faces: torch.Tensor,
        cameras: Cameras,
        resolution: int,
        cull_backfaces: bool = False,
    ) -> Fragments: ...

    def rasterize_orthographic(
        self, points: torch.Tensor, faces: torch.Tensor, resolution: int
    ) -> Fragments: ...


def get_rasterizer(backend: str = "auto", device: torch.device | str = "cpu") -> Rasterizer:
    """``"auto"`` picks PyTorch3D on CUDA and the PyTorch z-buffer elsewhere; ``"open3d"`` ray casts
    (Embree)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown rasterizer backend {backend!r}; choose one of {BACKENDS}")
    if backend == "auto":
        backend = "pytorch3d" if torch.device(device).type == "cuda" else "zbuffer"
    if backend == "zbuffer":
        from .zbuffer import ZBufferRasterizer

        return ZBufferRasterizer()
    if backend == "open3d":
        from .open3d_backend import Open3DRasterizer

        return Open3DRasterizer()
    from .pytorch3d_backend import PyTorch3DRasterizer

    return PyTorch3DRasterizer()
