"""GPU (and differentiable) rasterization with PyTorch3D."""

from __future__ import annotations

import torch

from .cameras import Cameras
from .fragments import Fragments


class PyTorch3DRasterizer:
    """PyTorch3D's mesh rasterizer with the EG3D camera converted from OpenCV conventions.

    Barycentric coordinates are differentiable with respect to the vertices. On CPU PyTorch3D has
    no binned path and is slow (seconds per 256 px image): prefer `ZBufferRasterizer` there.
    """

    name = "pytorch3d"

    def __init__(self, bin_size: int | None = None, max_faces_per_bin: int | None = None):
        self.bin_size = bin_size
        self.max_faces_per_bin = max_faces_per_bin

    def rasterize(
        self,
        vertices: torch.Tensor,
        faces: torch.Tensor,
        cameras: Cameras,
        resolution: int,
        cull_backfaces: bool = False,
    ) -> Fragments:
        """vertices (B,V,3) world units, faces (F,3) -> `Fragments` at ``resolution`` x ``resolution``."""
        from pytorch3d.renderer import MeshRasterizer, RasterizationSettings
        from pytorch3d.structures import Meshes
        from pytorch3d.utils import cameras_from_opencv_projection

        batch, device = vertices.shape[0], vertices.device
        cameras = cameras.to(device)
        world2cam = cameras.world2cam.float()
        camera_matrix = cameras.intrinsics.float().clone()
        camera_matrix[:, :2] *= resolution
        image_size = torch.full((batch, 2), resolution, device=device, dtype=torch.float32)
        p3d_cameras = cameras_from_opencv_projection(
            world2cam[:, :3, :3], world2cam[:, :3, 3], camera_matrix, image_size
        )
        settings = RasterizationSettings(
            image_size=resolution,
            blur_radius=0.0,
            faces_per_pixel=1,
            bin_size=self.bin_size,
            max_faces_per_bin=self.max_faces_per_bin,
            perspective_correct=True,
            cull_backfaces=cull_backfaces,
        )
        meshes = Meshes(verts=vertices.float(), faces=faces[None].expand(batch, -1, -1))
        fragments = MeshRasterizer(cameras=p3d_cameras, raster_settings=settings)(meshes)
        return _fragments(fragments.pix_to_face, fragments.zbuf, fragments.bary_coords, faces.shape[0])

    def rasterize_orthographic(self, points: torch.Tensor, faces: torch.Tensor, resolution: int) -> Fragments:
        """Next3D's rasterization of points (B,V,3) given in plane grid coordinates (x right, y down,
        pixel centres at (2 i + 1) / R - 1) and a depth, smaller nearer: PyTorch3D's `rasterize_meshes`
        in NDC (x left, y up), faces in ``[0, 2, 1]`` order with back faces culled, which keeps the faces
        of `facing_view`; one face per pixel, no blur."""
        from pytorch3d.renderer.mesh import rasterize_meshes
        from pytorch3d.structures import Meshes

        batch = points.shape[0]
        ndc = torch.stack([-points[..., 0], -points[..., 1], points[..., 2] + 10.0], dim=-1)
        swapped = faces[:, [0, 2, 1]]
        meshes = Meshes(verts=ndc.float(), faces=swapped[None].expand(batch, -1, -1))
        pix_to_face, zbuf, bary, _ = rasterize_meshes(
            meshes,
            image_size=resolution,
            blur_radius=0.0,
            faces_per_pixel=1,
            perspective_correct=False,
            cull_backfaces=True,
        )
        # Barycentrics back in the faces' own corner order.
        return _fragments(pix_to_face, zbuf - 10.0, bary[..., [0, 2, 1]], faces.shape[0])


def _fragments(
    pix_to_face: torch.Tensor, zbuf: torch.Tensor, bary: torch.Tensor, num_faces: int
) -> Fragments:
    """PyTorch3D's nearest face per pixel (packed ids over the batch) -> `Fragments` (0 on background)."""
    packed = pix_to_face[..., 0]
    offsets = torch.arange(packed.shape[0], device=packed.device)[:, None, None] * num_faces
    face_index = torch.where(packed >= 0, packed - offsets, torch.full_like(packed, -1))
    foreground = face_index >= 0
    return Fragments(
        face_index=face_index,
        barycentric=bary[..., 0, :] * foreground[..., None],
        depth=zbuf[..., 0] * foreground,
    )
