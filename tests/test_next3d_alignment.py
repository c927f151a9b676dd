"""FLAME -> Next3D alignment: residuals by hand, depth conventions, and recovery of a known correction."""

from __future__ import annotations

import math

import pytest
import torch

from synthforge_hf.constants import CLASS_ID
from synthforge_hf.generators.next3d.alignment import (
    AlignmentObservation,
    alignment_residuals,
    fit_alignment,
    front_vertices,
    optical_axis_depth,
)
from synthforge_hf.rendering.annotator import FaceAnnotator
from synthforge_hf.rendering.cameras import Cameras, head_to_world


def test_optical_axis_depth_of_a_fronto_parallel_plane(torch_device):
    cameras = Cameras.orbit(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([20.0])).to(torch_device)
    directions = cameras.ray_directions(8)  # camera z = 1: a plane at z = d is d * |direction| away
    ray_depth = 2.6 * directions.norm(dim=-1)
    depth = optical_axis_depth(ray_depth[:, None], cameras)
    torch.testing.assert_close(depth, torch.full((1, 8, 8), 2.6, device=torch_device))


def test_residuals_by_hand(torch_device):
    columns = torch.arange(8, dtype=torch.float32)
    generator_depth = (1.0 + 0.01 * columns).expand(1, 8, 8).clone()  # 1 + 0.01 * column, metres
    segmentation = torch.full((1, 8, 8), CLASS_ID["scalp"])
    segmentation[:, :4] = CLASS_ID["face"]  # top half: face (counted); bottom half: scalp (hair may differ)
    mesh_depth = torch.where(segmentation == CLASS_ID["face"], generator_depth - 0.01, torch.tensor(0.5))
    mesh_depth[0, 0, 0] = generator_depth[0, 0, 0] - 0.04  # one outlier among 32: the median ignores it
    landmarks = torch.tensor([[[2.5, 3.5], [4.0, 1.5], [6.5, 6.5]]])  # (x, y) pixels, centres at i + 0.5
    # the generator reads 1.02 at column 2's centre and 1.035 between columns 3 and 4
    landmark_depth = torch.tensor([[1.0, 1.035, 9.0]])
    visible = torch.tensor([[True, True, False]])  # the third is hidden: not counted
    inputs = [
        t.to(torch_device)
        for t in (generator_depth, mesh_depth, segmentation, landmarks, landmark_depth, visible)
    ]
    out = alignment_residuals(*inputs)
    torch.testing.assert_close(out["landmark_depth_error"].cpu(), torch.tensor([0.01]))
    torch.testing.assert_close(out["depth_residual"].cpu(), torch.tensor([0.01]))
    none_visible = alignment_residuals(*inputs[:-1], torch.zeros_like(inputs[-1]))
    assert torch.isnan(none_visible["landmark_depth_error"]).all()


def _rotation_y(degrees: float) -> torch.Tensor:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _points_on_faces(vertices: torch.Tensor, faces: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    chosen = faces[torch.randint(0, len(faces), (count,), generator=generator)]
    exponential = -torch.rand(count, 3, generator=generator).log()  # normalised: uniform on the triangle
    weights = exponential / exponential.sum(1, keepdim=True)
    return (vertices[chosen] * weights[..., None]).sum(1)


@pytest.mark.slow
def test_fit_recovers_a_known_correction(flame_template, torch_device):
    """Synthetic 'NeRF' observations made from the mesh moved by a known affine map: dense points on the
    moved surface (and empty space around it) and the moved mesh's depth; the fit must find the map."""
    nominal = head_to_world(torch.from_numpy(flame_template.vertices).float() - torch.tensor([0.0, 1.5, 0.0]))
    faces = torch.from_numpy(flame_template.faces).long()
    matrix = _rotation_y(2.0) @ torch.diag(torch.tensor([1.02, 0.98, 1.01]))
    translation = torch.tensor([0.01, -0.02, 0.015])
    moved = nominal @ matrix.T + translation
    # the region both terms compare: the fit's front vertices that the NeRF threshold (z > 0.1) keeps
    kept = front_vertices(nominal) & (moved[:, 2] > 0.1)
    inside = faces[kept[faces].all(dim=1)]
    surface = torch.cat([moved[kept], _points_on_faces(moved, inside, 3000, seed=0)])
    empty = torch.rand(2000, 3, generator=torch.Generator().manual_seed(1)) - 0.5
    annotator = FaceAnnotator(rasterizer="open3d")
    observations = []
    for yaw in (-0.35, 0.3):
        cameras = Cameras.orbit(torch.tensor([yaw]), torch.tensor([0.1]), torch.tensor([18.0]))
        depth = annotator.rasterize(moved[None], faces, cameras, 32).depth[0]
        sigma = torch.cat([torch.full((len(surface),), 20.0), torch.full((len(empty),), -5.0)])
        observation = AlignmentObservation(
            nominal, cameras, nerf_points=torch.cat([surface, empty]), nerf_sigma=sigma, nerf_depth=depth
        )
        observations.append(_on(observation, torch_device))
    fit = fit_alignment(observations, faces.to(torch_device), annotator.rasterize)
    assert fit.final_loss < 0.01 * fit.initial_loss and fit.matrix.device == observations[0].vertices.device
    torch.testing.assert_close(fit.matrix.cpu(), matrix, atol=2e-3, rtol=0)
    torch.testing.assert_close(fit.translation.cpu(), translation, atol=5e-4, rtol=0)  # 0.2 mm


def _on(observation: AlignmentObservation, device: str) -> AlignmentObservation:
    """``observation`` with every tensor (and its cameras) on ``device``."""
    fields = {k: v.to(device) for k, v in vars(observation).items()}
    return AlignmentObservation(**fields)
