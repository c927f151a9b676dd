"""GPU (and differentiable) rasterization with PyTorch3D."""

from __future__ import annotations

import torch

from .cameras import Cameras
from .fragments import Fragments


class PyTorch3DRasterizer:
    """PyTorch3D's mesh rasterizer with the EG3D camera converted from OpenCV conventions.

    Barycentric coordinates are differentiable with respect to the vertices. On CPU PyTorch3D has
    no binned path and is slow (seconds per 256 px image): prefer `Open3DRasterizer` there.
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
        packed = fragments.pix_to_face[..., 0]
        offsets = torch.arange(batch, device=device)[:, None, None] * faces.shape[0]
        face_index = torch.where(packed >= 0, packed - offsets, torch.full_like(packed, -1))
        foreground = face_index >= 0
        return Fragments(
            face_index=face_index,
            barycentric=fragments.bary_coords[..., 0, :] * foreground[..., None],
            depth=fragments.zbuf[..., 0] * foreground,
        )
