"""Aligning the FLAME mesh with what Next3D renders, and measuring how well they agree.

Next3D is driven by a FLAME mesh, but the face it renders sits slightly off the mesh mapped by the
nominal transform (`synthforge_hf.rendering.cameras.head_to_world`). As in SynthForge, a per-model affine
correction ``p -> p @ A.T + t`` (Next3D world units) is fitted on generated samples (a pipeline's own:
`synthforge_hf.pipelines.synthforge.next3d_conversion.fit_pipeline_alignment`) by minimising the
official fit's two terms with their weights (the official code ran Adam on them; here each iteration
solves them exactly by linear least squares with the correspondences fixed, which converges in a few
iterations):

- a Chamfer term between the front-face FLAME vertices and the coarse NeRF sample points whose
  normalised density exceeds 0.4 (both restricted to the front of the head, as the official fit);
- a depth term: masked squared difference between the rasterized depth of the corrected mesh and the
  depth Next3D renders.

The official fit also used landmarks from an external detector; that term is left out here (no detector
is a dependency). Each generated sample then reports its residuals (`alignment_residuals`), which need
no detector either: the rendered depth at the visible landmarks against the landmarks' own depth, and
the median depth disagreement over the face.
"""

from __future__ import annotations

from dataclasses import dataclass

import scipy.spatial
import torch

from ...constants import CLASS_ID
from ...rendering.cameras import Cameras
from ...rendering.fragments import Fragments

# Classes whose surface Next3D renders where the mesh is (hair, ears and neck are free to differ).
FACE_CLASSES = (
    "face",
    "forehead",
    "eye_region",
    "right_eye_region",
    "left_eye_region",
    "left_eyebrow",
    "right_eyebrow",
    "lower_lip",
    "upper_lip",
    "nose",
)
# The official fit's regions (world units): FLAME vertices with z > 0.09 and y > -0.3 (the front of the
# head above the neck), NeRF points with z > 0.1 and normalised density > 0.4.
VERTEX_MIN_Z, VERTEX_MIN_Y = 0.09, -0.3
POINT_MIN_Z, POINT_MIN_DENSITY = 0.1, 0.4
CHAMFER_WEIGHT, DEPTH_WEIGHT = 300.0, 1000.0
GRAZING_COSINE = 0.2  # pixels whose surface is seen more obliquely than this leave the depth term


def optical_axis_depth(ray_depth: torch.Tensor, cameras: Cameras) -> torch.Tensor:
    """Distance along unit rays (B,1,R,R) or (B,R,R) -> depth along the optical axis (B,R,R), same units."""
    ray_depth = ray_depth.reshape(ray_depth.shape[0], *ray_depth.shape[-2:])
    directions = cameras.to(ray_depth.device).ray_directions(ray_depth.shape[-1])  # camera z = 1
    return ray_depth / directions.norm(dim=-1)


def alignment_residuals(
    generator_depth: torch.Tensor,
    mesh_depth: torch.Tensor,
    segmentation: torch.Tensor,
    landmarks_2d: torch.Tensor,
    landmarks_depth: torch.Tensor,
    visibility: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Per-sample agreement (metres) between the generator's depth (B,H,W) and the annotations.

    ``landmark_depth_error``: mean |generator depth - landmark depth| over the visible landmarks, the
    generator's depth read bilinearly at each landmark's pixel (NaN without visible landmarks).
    ``depth_residual``: median |generator depth - mesh depth| over the pixels of `FACE_CLASSES`."""
    batch, height, width = generator_depth.shape
    size = torch.tensor([width, height], dtype=landmarks_2d.dtype, device=landmarks_2d.device)
    grid = (landmarks_2d / size * 2 - 1)[:, :, None]
    sampled = torch.nn.functional.grid_sample(
        generator_depth[:, None].float(), grid.float(), align_corners=False, padding_mode="border"
    )[:, 0, :, 0]
    errors = (sampled - landmarks_depth.float()).abs()
    visible = visibility.bool()
    landmark_error = torch.where(visible, errors, 0).sum(1) / visible.sum(1)
    face = torch.zeros_like(segmentation, dtype=torch.bool)
    for name in FACE_CLASSES:
        face |= segmentation == CLASS_ID[name]
    residual = torch.stack(
        [
            (generator_depth[b][face[b]] - mesh_depth[b][face[b]]).abs().median()
            if face[b].any()
            else generator_depth.new_tensor(float("nan"))
            for b in range(batch)
        ]
    )
    return {"landmark_depth_error": landmark_error, "depth_residual": residual.float()}


@dataclass
class AlignmentObservation:
    """One generated sample, in Next3D world units: the mesh mapped by the nominal transform
    (V,3), its cameras, the coarse NeRF samples (N,3) with raw densities (N,), and the rendered depth
    along the optical axis (R,R)."""

    vertices: torch.Tensor
    cameras: Cameras
    nerf_points: torch.Tensor
    nerf_sigma: torch.Tensor
    nerf_depth: torch.Tensor


@dataclass
class AlignmentFit:
    """The fitted correction ``p -> p @ matrix.T + translation`` and the loss before and after."""

    matrix: torch.Tensor
    translation: torch.Tensor
    initial_loss: float
    final_loss: float


def dense_nerf_points(observation: AlignmentObservation) -> torch.Tensor:
    """The official fit's NeRF targets: points in front (z > 0.1) with normalised density > 0.4."""
    sigma = observation.nerf_sigma.reshape(-1).float()
    normalised = (sigma - sigma.min()) / (sigma.max() - sigma.min()).clamp_min(1e-12)
    keep = (normalised > POINT_MIN_DENSITY) & (observation.nerf_points[:, 2] > POINT_MIN_Z)
    return observation.nerf_points[keep].float()


def front_vertices(vertices: torch.Tensor) -> torch.Tensor:
    """The official fit's mesh region: z > 0.09 and y > -0.3 (world units)."""
    return (vertices[:, 2] > VERTEX_MIN_Z) & (vertices[:, 1] > VERTEX_MIN_Y)


def _affine_rows(points: torch.Tensor) -> torch.Tensor:
    """Rows (3N, 12) of the linear map theta = [A (row-major), t] -> (A p + t) for points (N, 3)."""
    rows = points.new_zeros(len(points), 3, 12)
    for c in range(3):
        rows[:, c, 3 * c : 3 * c + 3] = points
        rows[:, c, 9 + c] = 1.0
    return rows.reshape(-1, 12)


def _nearest(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Index of the nearest ``target`` point of each ``source`` point (k-d tree)."""
    _, index = scipy.spatial.cKDTree(target.cpu().numpy()).query(source.cpu().numpy())
    return torch.from_numpy(index).to(source.device)


def _residual_system(
    observation: AlignmentObservation,
    target: torch.Tensor,
    mask: torch.Tensor,
    faces: torch.Tensor,
    fragments: Fragments,
    theta: torch.Tensor,
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[float]]:
    """Linear residual blocks (rows, rhs, weight) of one observation with correspondences fixed at
    ``theta``: Chamfer both ways between the front vertices and the NeRF points, and the rasterized depth
    of the corrected surface against the NeRF depth."""
    matrix, translation = theta[:9].reshape(3, 3), theta[9:]
    vertices = observation.vertices.float()[mask]
    corrected = vertices @ matrix.T + translation
    blocks_rows, blocks_rhs, weights = [], [], []
    if len(target) and len(vertices):
        forward = target[_nearest(corrected, target)]
        backward = vertices[_nearest(target, corrected)]
        blocks_rows += [_affine_rows(vertices), _affine_rows(backward)]
        blocks_rhs += [forward.reshape(-1), target.reshape(-1)]
        weights += [CHAMFER_WEIGHT / len(vertices), CHAMFER_WEIGHT / len(target)]
    valid = fragments.foreground[0] & (observation.nerf_depth > 0)
    if valid.any():
        # The depth where a pixel's ray meets the corrected surface, to first order: the plane through
        # the surface point x = A p + t with normal n meets the ray o + s d (camera depth s, d with
        # camera z = 1) at s = n . (A p + t - o) / (n . d), linear in theta for n held fixed.
        corners = faces[fragments.face_index[0][valid]]
        nominal = observation.vertices.float()
        surface = (nominal[corners] * fragments.barycentric[0][valid][..., None]).sum(1)
        moved = nominal[corners] @ matrix.T + translation
        normals = torch.linalg.cross(moved[:, 1] - moved[:, 0], moved[:, 2] - moved[:, 0])
        directions = observation.cameras.ray_directions(valid.shape[-1])[0].to(surface)[valid]
        facing = (normals * directions).sum(-1)
        steep = facing.abs() > GRAZING_COSINE * normals.norm(dim=-1) * directions.norm(dim=-1)
        n = normals[steep] / facing[steep, None]
        origin = observation.cameras.centers[0].to(surface)
        rows = torch.cat([(n[:, :, None] * surface[steep][:, None, :]).reshape(-1, 9), n], dim=1)
        blocks_rows.append(rows)
        blocks_rhs.append(observation.nerf_depth.float()[valid][steep] + n @ origin)
        weights.append(DEPTH_WEIGHT / max(int(steep.sum()), 1))
    return blocks_rows, blocks_rhs, weights


def fit_alignment(
    observations: list[AlignmentObservation],
    faces: torch.Tensor,
    rasterize,
    iterations: int = 30,
    tolerance: float = 1e-6,
) -> AlignmentFit:
    """Fit the affine correction to ``observations``, minimising the weighted sum of the Chamfer and
    depth terms (the official fit's weights) by iterated linear least squares: with nearest neighbours
    and pixels fixed, both terms are linear in the 12 affine parameters, so each iteration solves them
    exactly (ICP with a depth term). Stops when the parameters move less than ``tolerance``.

    ``rasterize(vertices (1,V,3), faces, cameras, resolution) -> Fragments`` gives the mesh's pixels."""
    if not observations:
        raise ValueError("fit_alignment needs at least one observation")
    theta = torch.cat([torch.eye(3).reshape(-1), torch.zeros(3)]).to(observations[0].vertices.device)
    targets = [dense_nerf_points(o) for o in observations]
    masks = [front_vertices(o.vertices) for o in observations]

    def system(theta: torch.Tensor):
        matrix, translation = theta[:9].reshape(3, 3), theta[9:]
        rows, rhs, weights = [], [], []
        for obs, target, mask in zip(observations, targets, masks, strict=True):
            corrected = obs.vertices.float() @ matrix.T + translation
            fragments = rasterize(corrected[None], faces, obs.cameras, obs.nerf_depth.shape[-1])
            r, b, w = _residual_system(obs, target, mask, faces, fragments, theta)
            rows += r
            rhs += b
            weights += [
                torch.full((len(x),), wi / len(observations), device=x.device)
                for x, wi in zip(b, w, strict=True)
            ]
        return torch.cat(rows), torch.cat(rhs), torch.cat(weights)

    rows, rhs, weights = system(theta)  # one system per estimate: it gives the loss and the next step
    initial = float((weights * (rows @ theta - rhs).square()).sum())
    for _ in range(iterations):
        scale = weights.sqrt()[:, None]
        update = torch.linalg.lstsq((rows * scale).double(), (rhs[:, None] * scale).double()).solution
        update = update[:, 0].to(theta)
        moved = (update - theta).abs().max()
        theta = update
        rows, rhs, weights = system(theta)
        if moved < tolerance:
            break
    final = float((weights * (rows @ theta - rhs).square()).sum())
    return AlignmentFit(theta[:9].reshape(3, 3), theta[9:], initial, final)
