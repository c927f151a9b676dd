"""CPU rasterization by ray casting with Open3D's Embree-backed `RaycastingScene`."""

from __future__ import annotations

import numpy as np
import torch

from .cameras import Cameras
from .fragments import Fragments


class Open3DRasterizer:
    """Casts one ray per pixel centre; fast on CPU (a BVH per mesh, built per call)."""

    name = "open3d"

    def __init__(self, num_threads: int = 0):
        import open3d  # noqa: F401  (fail early with ImportError if open3d-cpu is missing)

        self.num_threads = num_threads

    def rasterize(
        self, vertices: torch.Tensor, faces: torch.Tensor, cameras: Cameras, resolution: int
    ) -> Fragments:
        """vertices (B,V,3) world units, faces (F,3) -> `Fragments` at ``resolution`` x ``resolution``."""
        import open3d as o3d

        batch = vertices.shape[0]
        directions = cameras.ray_directions(resolution).cpu().numpy().astype(np.float32)
        origins = cameras.centers.cpu().float().numpy()
        triangles = o3d.core.Tensor(faces.cpu().numpy().astype(np.uint32))
        face_index = np.empty((batch, resolution, resolution), dtype=np.int64)
        bary = np.empty((batch, resolution, resolution, 3), dtype=np.float32)
        depth = np.empty((batch, resolution, resolution), dtype=np.float32)
        verts = vertices.detach().cpu().float().numpy()
        for b in range(batch):
            scene = o3d.t.geometry.RaycastingScene(nthreads=self.num_threads)
            scene.add_triangles(o3d.core.Tensor(verts[b]), triangles)
            dirs = directions[b].reshape(-1, 3)
            rays = np.concatenate([np.broadcast_to(origins[b], dirs.shape), dirs], axis=1)
            hits = scene.cast_rays(o3d.core.Tensor(rays), nthreads=self.num_threads)
            # Directions have camera-space z = 1, so the ray parameter t is the depth.
            t_hit = hits["t_hit"].numpy()
            ids = hits["primitive_ids"].numpy().astype(np.int64)
            uv = hits["primitive_uvs"].numpy()
            hit = np.isfinite(t_hit)
            face_index[b] = np.where(hit, ids, -1).reshape(resolution, resolution)
            weights = np.stack([1.0 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], axis=1)
            bary[b] = np.where(hit[:, None], weights, 0.0).reshape(resolution, resolution, 3)
            depth[b] = np.where(hit, t_hit, 0.0).reshape(resolution, resolution)
        device = vertices.device
        return Fragments(
            face_index=torch.from_numpy(face_index).to(device),
            barycentric=torch.from_numpy(bary).to(device),
            depth=torch.from_numpy(depth).to(device),
        )
