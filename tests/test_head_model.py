import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from synthforge_hf.head.landmarks import barycentric_points, dynamic_contour_rows
from synthforge_hf.head.lbs import axis_angle_to_matrix, euler_to_matrix, linear_blend_skinning
from synthforge_hf.head.model import ParametricHeadModel


def test_axis_angle_matches_scipy():
    rotvecs = torch.tensor([[0.3, -0.2, 0.9], [0.0, 0.0, 0.0], [math.pi, 0.0, 0.0], [1e-9, 0.0, 0.0]])
    expected = Rotation.from_rotvec(rotvecs.double().numpy()).as_matrix()
    assert np.allclose(axis_angle_to_matrix(rotvecs).numpy(), expected, atol=1e-6)


def test_euler_matches_scipy_extrinsic_xyz():
    pitch, yaw, roll = torch.tensor([0.2]), torch.tensor([-0.5]), torch.tensor([0.1])
    expected = Rotation.from_euler("xyz", [0.2, -0.5, 0.1]).as_matrix()  # extrinsic: Rz @ Ry @ Rx
    assert np.allclose(euler_to_matrix(pitch, yaw, roll)[0].numpy(), expected, atol=1e-6)


def test_skinning_rotates_about_the_joint_by_hand():
    joints = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    verts = torch.tensor([[[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]])
    weights = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    rot = axis_angle_to_matrix(torch.tensor([[[0.0, 0.0, 0.0], [0.0, 0.0, math.pi / 2]]]))
    posed, posed_joints = linear_blend_skinning(verts, rot, joints, [-1, 0], weights)
    # (1,1,0) is (1,0,0) from the child joint; 90 deg about z takes it to (0,1,0): (0,2,0) in the world.
    assert torch.allclose(posed[0, 0], torch.tensor([0.0, 2.0, 0.0]), atol=1e-6)
    assert torch.allclose(posed[0, 1], verts[0, 1], atol=1e-6)
    assert torch.allclose(posed_joints, joints, atol=1e-6)


def test_skinning_chains_parent_rotations():
    joints = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    verts = torch.tensor([[[0.0, 2.0, 0.0]]])
    rot = axis_angle_to_matrix(torch.tensor([[[0.0, 0.0, math.pi / 2], [0.0, 0.0, math.pi / 2]]]))
    posed, posed_joints = linear_blend_skinning(verts, rot, joints, [-1, 0], torch.tensor([[0.0, 1.0]]))
    # Root turns the child joint to (-1,0,0); the vertex, 1 above the child, turns twice: (-1,-1,0).
    assert torch.allclose(posed_joints[0, 1], torch.tensor([-1.0, 0.0, 0.0]), atol=1e-6)
    assert torch.allclose(posed[0, 0], torch.tensor([-1.0, -1.0, 0.0]), atol=1e-6)


def test_barycentric_points():
    verts = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
    faces = torch.tensor([[0, 1, 2], [0, 1, 3]])
    pts = barycentric_points(
        verts, faces, torch.tensor([0, 1]), torch.tensor([[0.2, 0.3, 0.5], [0.0, 0.5, 0.5]])
    )
    assert torch.allclose(pts[0], torch.tensor([[0.3, 0.5, 0.0], [0.5, 0.0, 0.5]]))


def test_dynamic_contour_rows_follow_the_flame_table_layout():
    # FLAME_PyTorch: angle = round(-yaw in degrees), clamped; angle >= 0 -> row angle, else 39 - angle.
    yaw = torch.tensor([0.0, -10.0, -39.0, -55.0, 1.0, 10.0, 39.0, 70.0, -10.4, 0.4]) * math.pi / 180
    assert dynamic_contour_rows(yaw).tolist() == [0, 10, 39, 39, 40, 49, 78, 78, 10, 0]


def _tiny_head() -> ParametricHeadModel:
    head = ParametricHeadModel(num_vertices=4, num_faces=2, num_shape=2, num_expression=1)
    head.v_template.copy_(torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    head.faces.copy_(torch.tensor([[0, 1, 2], [0, 1, 3]]))
    head.shapedirs[1, 0, 0] = 0.5  # shape 0 moves vertex 1 along x
    head.exprdirs[3, 2, 0] = -0.25  # expression 0 moves vertex 3 along z
    head.joint_regressor[:, 0] = 1.0
    head.lbs_weights[:, 0] = 1.0
    head.landmark_face_idx.fill_(1)
    head.landmark_bary.copy_(torch.tensor([1.0, 0.0, 0.0]).expand(68, 3))
    head.landmark_bary[5] = torch.tensor([0.0, 0.5, 0.5])
    return head


def test_forward_applies_blendshapes_pose_and_landmarks():
    head = _tiny_head()
    shape = torch.tensor([[2.0, 0.0]])
    expression = torch.tensor([[1.0]])
    pose = torch.zeros(1, 15)
    out = head(shape=shape, expression=expression, pose=pose)
    assert torch.allclose(out.vertices[0, 1], torch.tensor([2.0, 0.0, 0.0]))
    assert torch.allclose(out.vertices[0, 3], torch.tensor([0.0, 0.0, 0.75]))
    assert torch.allclose(out.landmarks_3d[0, 5], (out.vertices[0, 1] + out.vertices[0, 3]) / 2)
    pose[0, 1] = math.pi / 2  # global yaw: +z turns to +x
    turned = head(shape=shape, expression=expression, pose=pose)
    assert torch.allclose(turned.vertices[0, 3], torch.tensor([0.75, 0.0, 0.0]), atol=1e-6)


def test_forward_rejects_bad_parameters():
    head = _tiny_head()
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        head(shape=torch.zeros(1, 3))
    with pytest.raises(ValueError, match="same batch size"):
        head(shape=torch.zeros(2, 2), expression=torch.zeros(3, 1))
    with pytest.raises(TypeError, match="floating-point"):
        head(shape=torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="batch size"):
        head()
    assert head(batch_size=3).vertices.shape == (3, 4, 3)


def test_save_pretrained_round_trip(tmp_path):
    head = _tiny_head()
    head.vertex_labels.copy_(torch.tensor([1, 2, 3, 4]))
    head.save_pretrained(tmp_path)
    loaded = ParametricHeadModel.from_pretrained(tmp_path)
    for name, buffer in head.state_dict().items():
        assert torch.equal(buffer, loaded.state_dict()[name]), name
    shape = torch.tensor([[1.0, -1.0]])
    assert torch.equal(head(shape=shape).vertices, loaded(shape=shape).vertices)


def test_face_labels_by_majority():
    head = _tiny_head()
    head.vertex_labels.copy_(torch.tensor([5, 7, 7, 9]))
    assert head.face_labels().tolist() == [7, 5]  # (5,7,7) -> 7; (5,7,9) all differ -> first corner
