"""`FaceAnnotator`: exact labels from the posed head mesh: segmentation, depth, landmarks, visibility."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from ..constants import SEGMENTATION_CLASSES, SEGMENTATION_COLORS
from ..head.model import ParametricHeadModel
from .cameras import WORLD_UNITS_PER_METRE, Cameras
from .fragments import Fragments
from .parallel import parallel_map, split
from .rasterizer import BACKENDS, get_rasterizer


@dataclass
class Annotations:
    """Labels of one rendered batch.

    ``segmentation`` (B,H,W) class ids (0 = background); ``depth`` (B,H,W) metres along the optical axis,
    0 on background; ``landmarks_2d`` (B,68,2) pixels (x right, y down, pixel centres at i + 0.5);
    ``landmarks_3d`` (B,68,3) camera coordinates in metres (x right, y down, z forward);
    ``landmark_visibility`` (B,68) bool: inside the image and not hidden by the head itself.
    """

    fragments: Fragments
    segmentation: torch.Tensor
    depth: torch.Tensor
    landmarks_2d: torch.Tensor
    landmarks_3d: torch.Tensor
    landmark_visibility: torch.Tensor

    def occluded_by(
        self, occluder_depth: torch.Tensor, occluder_labels: torch.Tensor | None = None
    ) -> Annotations:
        """These labels once something the head mesh does not hold is drawn in front of it:
        ``occluder_depth`` (B,H,W) in metres along the optical axis (inf where nothing is) and the class
        each of its pixels takes, ``occluder_labels`` (B,H,W; background when not given, as for clothes;
        the scalp for hair). Where the occluder is the nearest surface a pixel takes its class, and its
        depth when that class is the head's (0 for background); landmarks behind it are hidden. The
        fragments (the head's own rasterization) are kept."""
        occluder_depth = occluder_depth.to(self.depth)
        labels = (
            torch.zeros_like(self.segmentation)
            if occluder_labels is None
            else occluder_labels.to(self.segmentation)
        )
        head = torch.where(self.depth > 0, self.depth, torch.inf)
        nearer = occluder_depth < head
        batch, height, width = occluder_depth.shape
        cols = self.landmarks_2d[..., 0].floor().long().clamp(0, width - 1)
        rows = self.landmarks_2d[..., 1].floor().long().clamp(0, height - 1)
        in_front = torch.gather(occluder_depth.reshape(batch, -1), 1, rows * width + cols)
        depth = torch.where(nearer, torch.where(labels > 0, occluder_depth, 0.0), self.depth)
        return replace(
            self,
            segmentation=torch.where(nearer, labels, self.segmentation),
            depth=depth,
            landmark_visibility=self.landmark_visibility & ~(in_front < self.landmarks_3d[..., 2]),
        )

    @classmethod
    def concatenate(cls, parts: list[Annotations]) -> Annotations:
        """The annotations of consecutive pieces of a batch as one."""
        if len(parts) == 1:
            return parts[0]
        tensors = {
            f.name: torch.cat([getattr(p, f.name) for p in parts])
            for f in fields(cls)
            if f.name != "fragments"
        }
        return cls(fragments=Fragments.concatenate([p.fragments for p in parts]), **tensors)


def pixel_labels(head: ParametricHeadModel, fragments: Fragments) -> torch.Tensor:
    """Class id of each pixel from the head's UV label map or per-vertex labels (those of the triangle's
    corner nearest the pixel); 0 on background."""
    if head.config.segmentation_source == "uv":
        from ..head.segmentation_texture import labels_at_uv

        uv = fragments.interpolate(head.uvs, head.uv_faces)
        labels = labels_at_uv(head.uv_label_map, uv)
        return torch.where(fragments.foreground, labels.long(), torch.zeros_like(fragments.face_index))
    pixel = fragments.foreground.view(-1).nonzero()[:, 0]
    nearest_corner = fragments.barycentric.view(-1, 3).index_select(0, pixel).argmax(dim=-1, keepdim=True)
    corners = head.faces.index_select(0, fragments.face_index.view(-1).index_select(0, pixel))
    vertex_ids = torch.gather(corners, 1, nearest_corner)[:, 0]
    labels = torch.zeros_like(fragments.face_index).view(-1)
    labels.index_copy_(0, pixel, head.vertex_labels.index_select(0, vertex_ids).long())
    return labels.view_as(fragments.face_index)


def landmark_visibility(
    pixels: torch.Tensor, depth: torch.Tensor, depth_map: torch.Tensor, tolerance: float
) -> torch.Tensor:
    """Visible if inside the image and no nearer surface covers it: the landmark depth must not exceed
    the farthest surface depth in its 3x3 pixel neighbourhood (within the image) by more than
    ``tolerance``."""
    batch, height, width = depth_map.shape
    col = pixels[..., 0].floor().long()
    row = pixels[..., 1].floor().long()
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    # The neighbourhood of the nearest pixel in the image; a neighbour off the image is clamped onto an
    # image pixel that is in the neighbourhood anyway.
    steps = torch.arange(-1, 2, device=pixels.device)
    rows = (row.clamp(0, height - 1)[..., None, None] + steps[:, None]).clamp(0, height - 1)
    cols = (col.clamp(0, width - 1)[..., None, None] + steps).clamp(0, width - 1)
    neighbours = torch.gather(depth_map.reshape(batch, -1), 1, (rows * width + cols).reshape(batch, -1))
    surface = neighbours.reshape(*row.shape, 9).amax(-1)
    return inside & (surface > 0) & (depth <= surface + tolerance)


class FaceAnnotator(ModelMixin, ConfigMixin):
    """Rasterizes the posed head and derives the annotations of each pixel and landmark.

    Args:
        rasterizer: a `rendering.rasterizer` backend: "auto" (PyTorch3D on CUDA, the PyTorch z-buffer
            elsewhere), "zbuffer", "open3d" (Embree ray casting) or "pytorch3d".
        visibility_tolerance: metres a landmark may lie behind the visible surface and still count
            as visible (covers rasterization error at grazing angles).
    """

    config_name = "config.json"

    @register_to_config
    def __init__(self, rasterizer: str = "auto", visibility_tolerance: float = 0.008):
        super().__init__()
        if rasterizer not in BACKENDS:
            raise ValueError(f"unknown rasterizer {rasterizer!r}; choose one of {BACKENDS}")
        colors = [SEGMENTATION_COLORS[name] for name in SEGMENTATION_CLASSES]
        self.register_buffer("class_colors", torch.tensor(colors, dtype=torch.uint8))

    def colorize(self, segmentation: torch.Tensor) -> torch.Tensor:
        """Class ids (...,H,W) -> the official colour-coded mask (...,H,W,3) uint8."""
        return self.class_colors.to(segmentation.device)[segmentation.long()]

    def rasterize(
        self,
        vertices_world: torch.Tensor,
        faces: torch.Tensor,
        cameras: Cameras,
        resolution: int,
        cull_backfaces: bool = False,
    ) -> Fragments:
        backend = get_rasterizer(self.config.rasterizer, vertices_world.device)
        return backend.rasterize(vertices_world, faces, cameras, resolution, cull_backfaces)

    def forward(
        self,
        head: ParametricHeadModel,
        vertices_world: torch.Tensor,
        landmarks_world: torch.Tensor,
        cameras: Cameras,
        resolution: int,
    ) -> Annotations:
        """Annotate a batch whose head vertices and landmarks are already in world units; depth and
        landmarks come in the vertices' dtype. On the CPU, pieces of the batch are annotated side by side
        (`parallel_map`)."""
        if resolution <= 0:
            raise ValueError(f"resolution must be a positive number of pixels, got {resolution}")
        cameras = cameras.to(vertices_world.device)
        if vertices_world.device.type != "cpu":
            return self._annotate(head, vertices_world, landmarks_world, cameras, resolution)
        pieces = parallel_map(
            lambda rows: self._annotate(
                head, vertices_world[rows], landmarks_world[rows], cameras[rows], resolution
            ),
            split(vertices_world.shape[0]),
        )
        return Annotations.concatenate(pieces)

    def _annotate(
        self,
        head: ParametricHeadModel,
        vertices_world: torch.Tensor,
        landmarks_world: torch.Tensor,
        cameras: Cameras,
        resolution: int,
    ) -> Annotations:
        """`forward` on one piece of the batch."""
        fragments = self.rasterize(vertices_world, head.faces, cameras, resolution, head.config.watertight)
        pixels, lmk_depth = cameras.project(landmarks_world, resolution)
        visible = landmark_visibility(
            pixels, lmk_depth, fragments.depth, self.config.visibility_tolerance * WORLD_UNITS_PER_METRE
        )
        return Annotations(
            fragments=fragments,
            segmentation=pixel_labels(head, fragments),
            depth=fragments.depth.to(vertices_world.dtype) / WORLD_UNITS_PER_METRE,
            landmarks_2d=pixels,
            landmarks_3d=cameras.world_to_camera(landmarks_world) / WORLD_UNITS_PER_METRE,
            landmark_visibility=visible,
        )
