"""Aligning the FLAME mesh with what Next3D renders, and measuring how well they agree.

Next3D is driven by a FLAME mesh, but the face it renders sits slightly off the mesh mapped by the
nominal transform (`synthforge_hf.rendering.cameras.head_to_world`). As in SynthForge, a per-model affine
correction ``p -> p @ A.T + t`` (Next3D world units) is fitted by optimisation on generated samples:

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

import torch

from ...constants import CLASS_ID
from ...rendering.cameras import Cameras, head_to_world
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


def _camera_depth(vertices: torch.Tensor, cameras: Cameras) -> torch.Tensor:
    return cameras.world_to_camera(vertices[None])[0, :, 2]


def fit_alignment(
    observations: list[AlignmentObservation],
    faces: torch.Tensor,
    rasterize,
    steps: int = 300,
    lr: float = 3e-3,
    rasterize_every: int = 25,
) -> AlignmentFit:
    """Fit the affine correction to ``observations`` with Adam (learning rate 3e-3, as the official fit).

    ``rasterize(vertices (1,V,3), faces, cameras, resolution) -> Fragments`` gives the mesh's pixels; they
    are recomputed every ``rasterize_every`` steps and the depth is differentiable through the vertices."""
    from pytorch3d.loss import chamfer_distance

    if not observations:
        raise ValueError("fit_alignment needs at least one observation")
    device = observations[0].vertices.device
    delta = torch.zeros(3, 3, device=device, requires_grad=True)
    translation = torch.zeros(3, device=device, requires_grad=True)
    optimiser = torch.optim.Adam([delta, translation], lr=lr)
    targets = [dense_nerf_points(o) for o in observations]
    masks = [front_vertices(o.vertices) for o in observations]
    eye = torch.eye(3, device=device)
    fragments: list[Fragments] = []

    def loss_fn() -> torch.Tensor:
        total = torch.zeros((), device=device)
        for obs, target, mask, frag in zip(observations, targets, masks, fragments, strict=True):
            corrected = obs.vertices.float() @ (eye + delta).T + translation
            if len(target) and mask.any():
                total = total + CHAMFER_WEIGHT * chamfer_distance(corrected[mask][None], target[None])[0]
            depth = frag.interpolate(_camera_depth(corrected, obs.cameras)[:, None], faces)[0, ..., 0]
            valid = frag.foreground[0] & (obs.nerf_depth > 0)
            if valid.any():
                total = total + DEPTH_WEIGHT * (depth - obs.nerf_depth.float())[valid].square().mean()
        return total / len(observations)

    def refresh() -> None:
        fragments.clear()
        with torch.no_grad():
            for obs in observations:
                corrected = obs.vertices.float() @ (eye + delta).T + translation
                fragments.append(rasterize(corrected[None], faces, obs.cameras, obs.nerf_depth.shape[-1]))

    refresh()
    with torch.no_grad():
        initial = float(loss_fn())
    for step in range(steps):
        if step and step % rasterize_every == 0:
            refresh()
        optimiser.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimiser.step()
    refresh()
    with torch.no_grad():
        final = float(loss_fn())
    return AlignmentFit((eye + delta).detach(), translation.detach(), initial, final)


@torch.no_grad()
def collect_observations(pipe, seeds: list[int], batch_size: int = 4) -> list[AlignmentObservation]:
    """Generate samples with ``pipe`` (a `SynthForgePipeline` with a `Next3DFaceGenerator`) from its own
    sampling of FLAME parameters and cameras, and keep what the fit needs."""
    from ...pipelines.synthforge.pipeline_synthforge import relative_face_yaw
    from ...pipelines.synthforge.sampling import sample_parameters

    head, generator = pipe.head_model, pipe.face_generator
    params, generators = sample_parameters(
        seeds, head.num_shape, head.num_expression, pipe.sampling_ranges, head.config.expression_bounds
    )
    latents = generator.sample_latents(generators)
    observations = []
    for start in range(0, len(seeds), batch_size):
        rows = slice(start, start + batch_size)
        cameras = Cameras.orbit(params.yaw[rows], params.pitch[rows], params.fov[rows]).to(head.device)
        pose = params.pose[rows].to(head.device)
        posed = head(
            shape=params.shape[rows].to(head.device),
            expression=params.expression[rows].to(head.device),
            pose=pose,
            contour_yaw=relative_face_yaw(pose, cameras),
        )
        out = generator.synthesize(latents[rows], cameras, torch.cat([posed.vertices, posed.landmarks_3d], 1))
        depth = optical_axis_depth(out.image_depth.float(), cameras)
        nominal = head_to_world(posed.vertices.float())
        for i in range(len(nominal)):
            observations.append(
                AlignmentObservation(
                    vertices=nominal[i],
                    cameras=Cameras(cameras.cam2world[i : i + 1], cameras.intrinsics[i : i + 1]),
                    nerf_points=out.coarse_points[i].float(),
                    nerf_sigma=out.coarse_sigma[i, :, 0].float(),
                    nerf_depth=depth[i],
                )
            )
    return observations


def fit_pipeline_alignment(pipe, num_samples: int = 16, steps: int = 300, seed: int = 0) -> AlignmentFit:
    """Fit the FLAME -> Next3D correction of ``pipe``'s generator on ``num_samples`` generated samples."""
    seeds = torch.randint(0, 2**62, (num_samples,), generator=torch.Generator().manual_seed(seed)).tolist()
    observations = collect_observations(pipe, seeds)
    return fit_alignment(observations, pipe.head_model.faces, pipe.annotator.rasterize, steps=steps)
