"""ICT-FaceKit loader on the real-format subset in ../shared/assets/ict-facekit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from synthforge_hf.constants import CLASS_ID, HEAD_FRAME_EYE_MIDPOINT, SEGMENTATION_CLASSES
from synthforge_hf.errors import MalformedAssetError, MissingAssetError
from synthforge_hf.head.ict_facekit import REGIONS, load_ict_facekit
from synthforge_hf.pipelines.synthforge.sampling import SamplingRanges, sample_parameters


@pytest.fixture(scope="module")
def ict_dir(assets_dir):
    return assets_dir / "ict-facekit" / "FaceXModel"


@pytest.fixture(scope="module")
def ict(ict_dir):
    return load_ict_facekit(ict_dir)


def _vertices_of(path):
    """Vertex positions read independently of the package (cm)."""
    rows = [line.split()[1:4] for line in path.read_text().splitlines() if line.startswith("v ")]
    return np.asarray(rows, dtype=np.float64)


def _landmark_vertices(head):
    corners = head.faces[head.landmark_face_idx]
    return corners[torch.arange(68), head.landmark_bary.argmax(1)]


@pytest.mark.slow
def test_reads_the_folder_in_metres_in_the_shared_head_frame(ict, ict_dir):
    index = json.loads((ict_dir / "vertex_indices.json").read_text())
    present = [n for n in index["expressions"] if (ict_dir / f"{n}.obj").exists()]
    assert ict.config.expression_names == tuple(present)
    assert ict.config.shape_names == tuple(f"identity{i:03d}" for i in range(len(ict.config.shape_names)))
    assert ict.config.expression_bounds == (0.0, 1.0)
    neutral = _vertices_of(ict_dir / "generic_neutral_mesh.obj")
    landmarks = ict(batch_size=1).landmarks_3d[0].double()
    # Landmarks are the listed Multi-PIE vertices, scaled to metres, moved by one rigid shift.
    expected = neutral[index["idx_to_landmark_verts"]] * 0.01
    shift = (landmarks.numpy() - expected).mean(0)
    np.testing.assert_allclose(landmarks.numpy(), expected + shift, atol=1e-6)
    eye_midpoint = (landmarks[36] + landmarks[45]) / 2
    np.testing.assert_allclose(eye_midpoint.numpy(), HEAD_FRAME_EYE_MIDPOINT, atol=1e-6)
    assert 0.08 < (landmarks[45] - landmarks[36]).norm() < 0.10  # adult inter-ocular distance


def test_blendshapes_are_target_minus_neutral(ict, ict_dir):
    neutral = _vertices_of(ict_dir / "generic_neutral_mesh.obj")
    k = ict.config.expression_names.index("jawOpen")
    jaw_open = _vertices_of(ict_dir / "jawOpen.obj")
    chin = 8
    vid = _landmark_vertices(ict)[chin].item()
    np.testing.assert_allclose(
        ict.exprdirs[vid, :, k].numpy(), (jaw_open[vid] - neutral[vid]) * 0.01, atol=1e-7
    )
    identity = _vertices_of(ict_dir / "identity003.obj")
    np.testing.assert_allclose(
        ict.shapedirs[:, :, 3].numpy(), (identity - neutral)[: REGIONS["eyeball_right"][1]] * 0.01, atol=2e-7
    )
    expression = torch.zeros(1, ict.config.num_expression)
    expression[0, k] = 1.0
    opened = ict(expression=expression).landmarks_3d[0]
    closed = ict(batch_size=1).landmarks_3d[0]
    assert opened[chin, 1] < closed[chin, 1] - 0.01  # the chin drops over a centimetre
    assert (opened[27] - closed[27]).norm() < 1e-3  # the nose bridge stays (within a millimetre)


def test_eye_pose_turns_only_that_eyeball(ict):
    pose = torch.zeros(1, 15)
    pose[0, 9:12] = torch.tensor([0.0, 0.3, 0.0])  # left eye
    moved = (ict(pose=pose).vertices[0] - ict(batch_size=1).vertices[0]).norm(dim=-1) > 1e-6
    start, stop = REGIONS["eyeball_left"]
    assert moved[start:stop].all() and not moved[:start].any() and not moved[stop:].any()
    assert (ict.v_template[start:stop, 0] > 0).all()  # the left eye is at +x, the subject's left


def test_labels_cover_all_classes_at_the_right_landmarks(ict):
    labels = ict.vertex_labels
    present = {SEGMENTATION_CLASSES[i] for i in labels.unique().tolist()}
    assert present == set(SEGMENTATION_CLASSES) - {"background"}
    at = labels[_landmark_vertices(ict)]
    assert at[30] == CLASS_ID["nose"] and set(at[31:36].tolist()) == {CLASS_ID["nose"]}
    assert set(at[36:42].tolist()) == {CLASS_ID["right_eye_region"]}
    assert set(at[42:48].tolist()) == {CLASS_ID["left_eye_region"]}
    assert set(at[[50, 51, 52]].tolist()) == {CLASS_ID["upper_lip"]}
    assert set(at[[56, 57, 58]].tolist()) == {CLASS_ID["lower_lip"]}
    assert set(at[17:22].tolist()) == {CLASS_ID["right_eyebrow"]}
    assert set(at[22:27].tolist()) == {CLASS_ID["left_eyebrow"]}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        assert sign * ict.v_template[labels == CLASS_ID[f"{side}_ear"], 0].min() > 0.06


def test_expressions_are_sampled_inside_their_bounds(ict):
    params, _ = sample_parameters(
        list(range(64)), ict.num_shape, ict.num_expression, SamplingRanges(), ict.config.expression_bounds
    )
    assert params.expression.min() >= 0.0 and params.expression.max() <= 1.0
    assert params.expression.max() > 0.9 and params.shape.min() < -1.0  # shapes stay symmetric


def test_save_and_reload_round_trip(ict, tmp_path):
    ict.save_pretrained(tmp_path)
    again = type(ict).from_pretrained(tmp_path)
    assert tuple(again.config.expression_names) == ict.config.expression_names
    for name, tensor in ict.state_dict().items():
        assert torch.equal(again.state_dict()[name], tensor), name
    shape = torch.randn(1, ict.num_shape, generator=torch.Generator().manual_seed(0))
    # Equal buffers; only the summation order may differ with memory alignment.
    torch.testing.assert_close(again(shape=shape).vertices, ict(shape=shape).vertices, rtol=0, atol=1e-7)


def _copy_folder(src, dst, skip=()):
    dst.mkdir()
    for path in src.iterdir():
        if path.name not in skip:
            (dst / path.name).symlink_to(path)
    return dst


def test_missing_folder_says_where_to_get_it(tmp_path):
    with pytest.raises(MissingAssetError, match="github.com/ICT-VGL/ICT-FaceKit"):
        load_ict_facekit(tmp_path / "FaceXModel")


@pytest.mark.slow
def test_bad_target_and_unknown_expression(ict_dir, tmp_path):
    folder = _copy_folder(ict_dir, tmp_path / "bad", skip=("identity001.obj",))
    (folder / "identity001.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(MalformedAssetError, match="identity001.obj.*3 vertices"):
        load_ict_facekit(folder)
    with pytest.raises(ValueError, match="unknown ICT-FaceKit expressions"):
        load_ict_facekit(ict_dir, expressions=["jawOpen", "smile"])
    with pytest.raises(MissingAssetError, match="mouthClose"):
        load_ict_facekit(ict_dir, expressions=["mouthClose"])  # a known name whose file is absent here
