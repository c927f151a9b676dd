import math

import pytest
import torch

from synthforge_hf.rendering.cameras import (
    Cameras,
    fov_to_intrinsics,
    head_to_world,
    orbit_cam2world,
    world_to_head,
)


def test_fov_to_intrinsics_matches_eg3d_formula_and_ffhq_focal():
    k = fov_to_intrinsics(18.837)
    expected = 1.0 / (math.tan(18.837 * math.pi / 360.0) * 1.414)
    assert k[0, 0].item() == pytest.approx(expected, rel=1e-6)
    assert k[1, 1].item() == pytest.approx(expected, rel=1e-6)
    assert k[0, 2].item() == 0.5 and k[1, 2].item() == 0.5 and k[2, 2].item() == 1.0
    # FFHQ labels use f = 4.2647, i.e. FOV 18.837 degrees (to 4 significant digits).
    assert expected == pytest.approx(4.2647, abs=2e-3)


def test_frontal_camera_sits_on_the_z_axis_in_opencv_convention():
    cam2world = orbit_cam2world(torch.tensor([0.0]), torch.tensor([0.0]))[0]
    assert torch.allclose(cam2world[:3, 3], torch.tensor([0.0, 0.0, 0.2 + 2.7]), atol=1e-5)
    # x right = world +x, y down = world -y, forward = world -z.
    assert torch.allclose(cam2world[:3, :3], torch.diag(torch.tensor([1.0, -1.0, -1.0])), atol=1e-5)


def test_positive_yaw_moves_camera_to_subjects_left_and_positive_pitch_moves_it_down():
    cams = Cameras.orbit(torch.tensor([0.5, 0.0]), torch.tensor([0.0, 0.5]), torch.tensor([18.0, 18.0]))
    assert cams.centers[0, 0] > 0.5
    # EG3D polar angle: arccos(1 - 2 (pi/2 + pitch) / pi) -> y = 2.7 cos(phi) = -2.7 * 2 * pitch / pi
    assert cams.centers[1, 1].item() == pytest.approx(-2.7 * 2 * 0.5 / math.pi, abs=1e-5)


def test_orbit_cameras_look_at_the_pivot_and_keep_radius():
    torch.manual_seed(0)
    yaw, pitch = torch.rand(8) * 1.6 - 0.8, torch.rand(8) * 1.6 - 0.8
    cams = Cameras.orbit(yaw, pitch, torch.full((8,), 20.0))
    pivot = torch.tensor([0.0, 0.0, 0.2])
    assert torch.allclose((cams.centers - pivot).norm(dim=-1), torch.full((8,), 2.7), atol=1e-5)
    pixels, depth = cams.project(pivot.expand(8, 1, 3), 512)
    assert torch.allclose(pixels, torch.full_like(pixels, 256.0), atol=1e-3)
    assert torch.allclose(depth, torch.full_like(depth, 2.7), atol=1e-5)


def test_projection_of_a_known_point_matches_hand_computation():
    cams = Cameras.orbit(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([18.837]))
    f = 1.0 / (math.tan(18.837 * math.pi / 360.0) * 1.414)
    pixels, depth = cams.project(torch.tensor([[[0.1, 0.05, 0.2]]]), 256)
    # Camera coordinates: x = 0.1, y = -0.05 (y down), z = 2.7.
    assert pixels[0, 0, 0].item() == pytest.approx((f * 0.1 / 2.7 + 0.5) * 256, rel=1e-5)
    assert pixels[0, 0, 1].item() == pytest.approx((f * -0.05 / 2.7 + 0.5) * 256, rel=1e-5)
    assert depth[0, 0].item() == pytest.approx(2.7, rel=1e-6)


def test_ray_directions_pass_through_pixel_centres():
    cams = Cameras.orbit(torch.tensor([0.3]), torch.tensor([-0.2]), torch.tensor([22.0]))
    dirs = cams.ray_directions(16)
    points = cams.centers[:, None, None] + 3.0 * dirs
    pixels, depth = cams.project(points.reshape(1, -1, 3), 16)
    centres = torch.arange(16, dtype=torch.float32) + 0.5
    v, u = torch.meshgrid(centres, centres, indexing="ij")
    assert torch.allclose(pixels[0], torch.stack([u, v], -1).reshape(-1, 2), atol=1e-3)
    assert torch.allclose(depth, torch.full_like(depth, 3.0), atol=1e-4)


def test_conditioning_vector_round_trip():
    cams = Cameras.orbit(torch.tensor([0.1, -0.4]), torch.tensor([0.2, 0.0]), torch.tensor([15.0, 25.0]))
    c = cams.conditioning
    assert c.shape == (2, 25)
    back = Cameras.from_conditioning(c)
    assert torch.equal(back.cam2world, cams.cam2world) and torch.equal(back.intrinsics, cams.intrinsics)
    with pytest.raises(ValueError, match="25"):
        Cameras.from_conditioning(torch.zeros(2, 16))


def test_head_to_world_applies_next3d_orth_transform():
    p = torch.tensor([[0.02, 0.03, 0.04]])
    world = head_to_world(p)
    expected = torch.tensor([[0.02 * 2.5, (0.03 - 0.01) * 2.5, (0.04 - 0.01) * 2.5 + math.sqrt(2) / 10]])
    assert torch.allclose(world, expected, atol=1e-6)
    assert torch.allclose(world_to_head(expected), p, atol=1e-7)
    points = torch.randn(4, 7, 3, dtype=torch.float64)
    assert torch.allclose(world_to_head(head_to_world(points)), points, atol=1e-12)


def test_orbit_angles_and_fov_invert_the_camera_construction():
    from synthforge_hf.rendering.cameras import intrinsics_to_fov, orbit_angles

    yaw = torch.tensor([-0.8, 0.0, 0.3, 0.79])
    pitch = torch.tensor([0.5, -0.7, 0.0, 0.2])
    recovered_yaw, recovered_pitch = orbit_angles(orbit_cam2world(yaw, pitch))
    torch.testing.assert_close(recovered_yaw, yaw, atol=1e-6, rtol=0)
    torch.testing.assert_close(recovered_pitch, pitch, atol=1e-6, rtol=0)
    fov = torch.tensor([12.0, 18.837, 27.0])
    torch.testing.assert_close(intrinsics_to_fov(fov_to_intrinsics(fov)), fov, atol=1e-4, rtol=0)


def test_camera_maths_make_their_tensors_on_the_cameras_device():
    """On the meta device any tensor made on the CPU by mistake raises (mixed-device arithmetic), so
    this catches what a CUDA run would hit: rays and projections are made where the cameras live."""
    from synthforge_hf.head.default_head import build_default_head
    from synthforge_hf.pipelines.synthforge.pipeline_synthforge import relative_face_yaw

    cameras = Cameras.orbit(torch.zeros(2), torch.full((2,), 0.1), torch.full((2,), 18.0)).to("meta")
    assert cameras.ray_directions(8).device.type == "meta"
    pixels, depth = cameras.project(torch.zeros(2, 5, 3, device="meta"), 8)
    assert pixels.device.type == "meta" and depth.device.type == "meta"
    head = build_default_head().to("meta")
    pose = torch.zeros(2, 15, device="meta")
    posed = head(
        shape=torch.zeros(2, head.num_shape, device="meta"),
        expression=torch.zeros(2, head.num_expression, device="meta"),
        pose=pose,
        contour_yaw=relative_face_yaw(pose, cameras),
    )
    assert posed.vertices.device.type == "meta" and posed.landmarks_3d.device.type == "meta"
