"""CPU rasterization by ray casting with Open3D's Embree-backed `RaycastingScene`."""

from __future__ import annotations

import numpy as np
import torch

from .cameras import Cameras
from .facing import facing_view, front_facing
from .fragments import Fragments


class Open3DRasterizer:
    """Casts one ray per pixel centre (a BVH per mesh, built per call); the reference the other backends
    are tested against."""

    name = "open3d"

    def __init__(self):
        import open3d  # noqa: F401  (fail early with ImportError if open3d-cpu is missing)

    def rasterize(
        self,
        vertices: torch.Tensor,
        faces: torch.Tensor,
        cameras: Cameras,
        resolution: int,
        cull_backfaces: bool = False,
    ) -> Fragments:
        """vertices (B,V,3) world units, faces (F,3) -> `Fragments` at ``resolution`` x ``resolution``.

        ``cull_backfaces`` leaves out faces turned away from the camera (exact for closed meshes with
        outward faces, and about twice as fast: the BVH build dominates)."""
        cameras = cameras.to("cpu")
        verts = vertices.detach().cpu().float()
        faces = faces.cpu()
        directions = cameras.ray_directions(resolution).numpy().astype(np.float32)
        origins = cameras.centers.float().numpy()
        kept = front_facing(verts, faces, cameras.centers.float()) if cull_backfaces else None
        pixels, vertex_depth = cameras.project(verts, resolution)
        out = _Buffers(verts.shape[0], resolution)
        for b in range(verts.shape[0]):
            rows, cols = _covered_window(pixels[b], vertex_depth[b], resolution)
            dirs = directions[b, rows, cols].reshape(-1, 3)
            rays = np.concatenate([np.broadcast_to(origins[b], dirs.shape), dirs], axis=1)
            # Directions have camera-space z = 1, so the ray parameter t is the depth.
            out.cast(b, (rows, cols), verts[b], faces, None if kept is None else kept[b], rays, 0.0)
        return out.fragments(vertices.device)

    def rasterize_orthographic(self, points: torch.Tensor, faces: torch.Tensor, resolution: int) -> Fragments:
        """Nearest view-facing triangle (`facing_view`) per pixel centre of points (B,V,3) given in plane
        grid coordinates (x right, y down, pixel centres at (2 i + 1) / R - 1) and a depth, smaller nearer:
        rays parallel to +depth."""
        points = points.detach().cpu().float()
        faces = faces.cpu()
        kept = facing_view(points, faces)
        centres = (2 * np.arange(resolution, dtype=np.float32) + 1) / resolution - 1
        ys, xs = np.meshgrid(centres, centres, indexing="ij")
        out = _Buffers(points.shape[0], resolution)
        everywhere = (slice(0, resolution), slice(0, resolution))
        for b in range(points.shape[0]):
            start = float(points[b, :, 2].min()) - 1.0
            rays = np.zeros((xs.size, 6), dtype=np.float32)
            rays[:, 0], rays[:, 1], rays[:, 2], rays[:, 5] = xs.ravel(), ys.ravel(), start, 1.0
            out.cast(b, everywhere, points[b], faces, kept[b], rays, start)
        return out.fragments(points.device)


class _Buffers:
    """Fragment arrays (B,R,R) filled one ray-cast window at a time."""

    def __init__(self, batch: int, resolution: int):
        self.face_index = np.full((batch, resolution, resolution), -1, dtype=np.int64)
        self.barycentric = np.zeros((batch, resolution, resolution, 3), dtype=np.float32)
        self.depth = np.zeros((batch, resolution, resolution), dtype=np.float32)

    def cast(
        self,
        b: int,
        window: tuple[slice, slice],
        vertices: torch.Tensor,
        faces: torch.Tensor,
        keep: torch.Tensor | None,
        rays: np.ndarray,
        depth_offset: float,
    ) -> None:
        """Cast ``rays`` (N,6) of the pixels in ``window`` of sample ``b`` against the faces ``keep`` (F,)
        (all if None) of a mesh; depth = ray parameter + ``depth_offset``."""
        import open3d as o3d

        rows, cols = window
        if rows.start >= rows.stop or cols.start >= cols.stop:
            return
        ids = torch.arange(len(faces)) if keep is None else keep.nonzero()[:, 0]
        if len(ids) == 0:
            return
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(
            o3d.core.Tensor(vertices.numpy()), o3d.core.Tensor(faces[ids].numpy().astype(np.uint32))
        )
        hits = scene.cast_rays(o3d.core.Tensor(rays))
        t_hit = hits["t_hit"].numpy()
        hit = np.isfinite(t_hit)
        uv = hits["primitive_uvs"].numpy()
        shape = (rows.stop - rows.start, cols.stop - cols.start)
        face = ids.numpy()[np.where(hit, hits["primitive_ids"].numpy(), 0).astype(np.int64)]
        self.face_index[b, rows, cols] = np.where(hit, face, -1).reshape(shape)
        weights = np.stack([1.0 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], axis=1)
        self.barycentric[b, rows, cols] = np.where(hit[:, None], weights, 0.0).reshape(*shape, 3)
        self.depth[b, rows, cols] = np.where(hit, t_hit + depth_offset, 0.0).reshape(shape)

    def fragments(self, device: torch.device) -> Fragments:
        return Fragments(
            face_index=torch.from_numpy(self.face_index).to(device),
            barycentric=torch.from_numpy(self.barycentric).to(device),
            depth=torch.from_numpy(self.depth).to(device),
        )


def _covered_window(pixels: torch.Tensor, depth: torch.Tensor, resolution: int) -> tuple[slice, slice]:
    """Pixel rows/columns that any triangle can cover: the bounding box of the projected vertices
    (the whole image if a vertex lies behind the camera, where projection is not bounded)."""
    if (depth <= 0).any():
        return slice(0, resolution), slice(0, resolution)
    low = torch.floor(pixels.min(dim=0).values - 0.5).clamp(0, resolution).long().tolist()
    high = torch.ceil(pixels.max(dim=0).values + 0.5).clamp(0, resolution).long().tolist()
    return slice(low[1], high[1]), slice(low[0], high[0])
