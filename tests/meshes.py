"""Small meshes with geometry known in closed form, for tests."""

from __future__ import annotations

import math

import torch


def uv_sphere(radius: float = 1.0, rings: int = 24, segments: int = 48, center=(0.0, 0.0, 0.0)):
    """A closed UV sphere: vertices (V,3), faces (F,3) outward (counter-clockwise seen from outside)."""
    verts = [(0.0, radius, 0.0)]
    for i in range(1, rings):
        theta = math.pi * i / rings
        for j in range(segments):
            phi = 2 * math.pi * j / segments
            verts.append(
                (
                    radius * math.sin(theta) * math.sin(phi),
                    radius * math.cos(theta),
                    radius * math.sin(theta) * math.cos(phi),
                )
            )
    verts.append((0.0, -radius, 0.0))
    faces = []
    last = len(verts) - 1
    for j in range(segments):
        faces.append((0, 1 + j, 1 + (j + 1) % segments))
    for i in range(rings - 2):
        a, b = 1 + i * segments, 1 + (i + 1) * segments
        for j in range(segments):
            k = (j + 1) % segments
            faces += [(a + j, b + j, b + k), (a + j, b + k, a + k)]
    base = 1 + (rings - 2) * segments
    for j in range(segments):
        faces.append((last, base + (j + 1) % segments, base + j))
    v = torch.tensor(verts, dtype=torch.float32) + torch.tensor(center, dtype=torch.float32)
    return v, torch.tensor(faces, dtype=torch.long)


def quad(z: float, half_size: float):
    """A square in the plane z = const facing +z, split into two triangles."""
    s = half_size
    v = torch.tensor([[-s, -s, z], [s, -s, z], [s, s, z], [-s, s, z]], dtype=torch.float32)
    return v, torch.tensor([[0, 1, 2], [0, 2, 3]], dtype=torch.long)
