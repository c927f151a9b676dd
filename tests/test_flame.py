"""FLAME loader: official file formats, hand-checked blendshapes and skinning, landmarks, labels."""

from __future__ import annotations

import io
import os
import pickle
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.spatial.transform import Rotation

from synthforge_hf.constants import CLASS_ID, SEGMENTATION_COLORS
from synthforge_hf.errors import MalformedAssetError, MissingAssetError
from synthforge_hf.head.flame import load_flame, load_flame_from_dir, read_flame_model
from synthforge_hf.head.model import ParametricHeadModel
from synthforge_hf.head.segmentation_texture import NON_CLASS_COLORS, decode_segmentation_texture
from synthforge_hf.io.safe_pickle import UnsafePickleError

from .flame_files import (
    FLAME_SHAPE_COMPONENTS,
    dump_with_chumpy,
    flame_model_arrays,
    write_deca_embedding,
    write_flame_model,
)
from .meshes import uv_sphere

NUM_EXPRESSION = 10


def _small_mesh():
    """A head-sized sphere (radius 10 cm) centred like FLAME's head."""
    vertices, faces = uv_sphere(radius=0.1, rings=10, segments=16)
    return np.asarray(vertices, dtype=np.float64), np.asarray(faces)


def _deca_embedding(path, faces, seed=0, rows=79):
    rng = np.random.default_rng(seed)
    face_idx = rng.integers(0, len(faces), 68)
    bary = rng.dirichlet(np.ones(3), 68)
    contour_idx = rng.integers(0, len(faces), (rows, 17))
    contour_bary = rng.dirichlet(np.ones(3), (rows, 17))
    return write_deca_embedding(path, face_idx, bary, contour_idx, contour_bary), (face_idx, bary)


@pytest.fixture()
def small_flame(tmp_path):
    vertices, faces = _small_mesh()
    arrays = flame_model_arrays(vertices, faces, num_expression=NUM_EXPRESSION)
    model = write_flame_model(tmp_path / "generic_model.pkl", arrays)
    embedding, static = _deca_embedding(tmp_path / "landmark_embedding.npy", faces)
    return arrays, model, embedding, static


def _reference_flame(arrays, shape, expression, pose_in_file_order):
    """FLAME's forward pass written directly on the file's arrays (numpy, float64)."""
    v_shaped = (
        arrays["v_template"]
        + arrays["shapedirs"][:, :, : len(shape)] @ shape
        + arrays["shapedirs"][:, :, FLAME_SHAPE_COMPONENTS : FLAME_SHAPE_COMPONENTS + len(expression)]
        @ expression
    )
    joints = arrays["J_regressor"] @ v_shaped
    rotations = Rotation.from_rotvec(pose_in_file_order.reshape(5, 3)).as_matrix()
    pose_feature = (rotations[1:] - np.eye(3)).reshape(-1)
    v_posed = v_shaped + (arrays["posedirs"].reshape(-1, 36) @ pose_feature).reshape(-1, 3)
    parents = [-1, 0, 1, 1, 1]
    world = []
    for j in range(5):
        local = np.eye(4)
        local[:3, :3] = rotations[j]
        local[:3, 3] = joints[j] - (joints[parents[j]] if j else 0)
        world.append(local if j == 0 else world[parents[j]] @ local)
    skinning = []
    for j in range(5):
        transform = world[j].copy()
        transform[:3, 3] -= world[j][:3, :3] @ joints[j]
        skinning.append(transform)
    blended = np.einsum("vj,jmn->vmn", arrays["weights"], np.stack(skinning))
    return np.einsum("vmn,vn->vm", blended[:, :3, :3], v_posed) + blended[:, :3, 3]


def test_reads_chumpy_pickle_without_chumpy(small_flame):
    arrays, model, _, _ = small_flame
    data = read_flame_model(model)
    assert "chumpy" not in sys.modules
    for key in ("v_template", "shapedirs", "posedirs", "weights"):
        np.testing.assert_array_equal(data[key], arrays[key])
    np.testing.assert_array_equal(data["J_regressor"], arrays["J_regressor"])  # from scipy sparse
    assert data["f"].dtype == np.int64 and np.array_equal(data["f"], arrays["f"])


def test_forward_matches_flame_reference(small_flame):
    arrays, model, embedding, (face_idx, bary) = small_flame
    head = load_flame(model, landmark_embedding_path=embedding, num_shape=20, num_expression=NUM_EXPRESSION)
    rng = np.random.default_rng(1)
    shape, expression = rng.normal(0, 2, 20), rng.normal(0, 2, NUM_EXPRESSION)
    pose = rng.normal(0, 0.3, 15)  # global, neck, jaw, left_eye, right_eye; the file's order is the same
    out = head(
        torch.tensor(shape[None], dtype=torch.float32),
        torch.tensor(expression[None], dtype=torch.float32),
        torch.tensor(pose[None], dtype=torch.float32),
    )
    expected = _reference_flame(arrays, shape, expression, pose)
    np.testing.assert_allclose(out.vertices[0].numpy(), expected, atol=2e-6)
    corners = expected[arrays["f"][face_idx].astype(np.int64)]
    np.testing.assert_allclose(out.landmarks_3d[0].numpy(), (corners * bary[:, :, None]).sum(1), atol=2e-6)


def test_eye_joints_are_matched_by_side(tmp_path):
    """A file whose joint 3 is the right eye: the loader still gives `left_eye` the +x eye."""
    vertices, faces = _small_mesh()
    arrays = flame_model_arrays(vertices, faces, num_expression=NUM_EXPRESSION)
    swapped = dict(arrays)
    swapped["J_regressor"] = arrays["J_regressor"][[0, 1, 2, 4, 3]]
    swapped["weights"] = arrays["weights"][:, [0, 1, 2, 4, 3]]
    posedirs = arrays["posedirs"].reshape(-1, 3, 4, 9)[:, :, [0, 1, 3, 2]]
    swapped["posedirs"] = posedirs.reshape(-1, 3, 36)
    swapped["weights"][vertices[:, 0] > 0.05] = [0, 0, 0, 0, 1]  # file joint 4 = left eye here
    model = write_flame_model(tmp_path / "generic_model.pkl", swapped)
    embedding, _ = _deca_embedding(tmp_path / "landmark_embedding.npy", faces)
    head = load_flame(model, landmark_embedding_path=embedding, num_expression=NUM_EXPRESSION)
    pose = np.zeros(15)
    pose[9:12] = [0.0, 0.4, 0.0]  # left_eye yaw
    out = head(pose=torch.tensor(pose[None], dtype=torch.float32))
    file_pose = np.concatenate([pose[:9], pose[12:15], pose[9:12]])
    np.testing.assert_allclose(
        out.vertices[0].numpy(),
        _reference_flame(swapped, np.zeros(100), np.zeros(NUM_EXPRESSION), file_pose),
        atol=2e-6,
    )
    moved = (out.vertices[0] - head(batch_size=1).vertices[0]).norm(dim=-1) > 1e-3  # beyond pose correctives
    assert moved.any() and (head.v_template[moved, 0] > 0).all()


def test_save_and_reload_round_trip(small_flame, tmp_path):
    _, model, embedding, _ = small_flame
    head = load_flame(model, landmark_embedding_path=embedding, num_expression=NUM_EXPRESSION)
    head.save_pretrained(tmp_path / "saved")
    again = ParametricHeadModel.from_pretrained(tmp_path / "saved")
    pose = torch.randn(2, 15, generator=torch.Generator().manual_seed(0)) * 0.2
    torch.testing.assert_close(again(pose=pose).vertices, head(pose=pose).vertices, rtol=0, atol=0)
    assert again.config.name == "flame"


# --- errors ----------------------------------------------------------------------------------------


def test_missing_model_names_the_file_and_where_to_get_it(tmp_path):
    with pytest.raises(MissingAssetError, match="flame.is.tue.mpg.de") as info:
        read_flame_model(tmp_path / "generic_model.pkl")
    assert "generic_model.pkl" in str(info.value)


def test_missing_landmarks_in_a_flame_folder(small_flame, tmp_path):
    _, model, _, _ = small_flame
    folder = tmp_path / "flame_only"
    folder.mkdir()
    (folder / "generic_model.pkl").write_bytes(model.read_bytes())
    with pytest.raises(MissingAssetError, match="landmark_embedding.npy"):
        load_flame_from_dir(folder)


def test_missing_key_and_wrong_shape_are_named(tmp_path):
    vertices, faces = _small_mesh()
    arrays = flame_model_arrays(vertices, faces)
    no_weights = {k: v for k, v in arrays.items() if k != "weights"}
    dump_with_chumpy(no_weights, tmp_path / "a.pkl")
    with pytest.raises(MalformedAssetError, match="weights"):
        read_flame_model(tmp_path / "a.pkl")
    bad = dict(arrays, posedirs=arrays["posedirs"][:, :, :27])
    write_flame_model(tmp_path / "b.pkl", bad)
    with pytest.raises(MalformedAssetError, match=r"'posedirs' has shape \(\d+, 3, 27\)"):
        read_flame_model(tmp_path / "b.pkl")


def test_truncated_model_is_malformed(small_flame, tmp_path):
    _, model, _, _ = small_flame
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    with pytest.raises(MalformedAssetError, match="not a readable pickle"):
        read_flame_model(cut)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch payload_ran",))


def test_payload_in_model_is_refused_and_never_runs(small_flame, tmp_path, monkeypatch):
    arrays, _, _, _ = small_flame
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({**arrays, "extra": _Payload()}, protocol=2))
    with pytest.raises(UnsafePickleError, match="posix.system|os.system"):
        read_flame_model(evil)
    assert not (tmp_path / "payload_ran").exists()


def test_uv_template_must_share_flame_topology(small_flame, tmp_path):
    _, model, embedding, _ = small_flame
    obj = tmp_path / "other.obj"
    obj.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nf 1/1 2/2 3/3\n")
    with pytest.raises(MalformedAssetError, match="not FLAME topology"):
        load_flame(
            model, landmark_embedding_path=embedding, uv_template_path=obj, num_expression=NUM_EXPRESSION
        )


def test_parameter_count_is_checked(small_flame):
    _, model, embedding, _ = small_flame
    with pytest.raises(ValueError, match="num_expression"):
        load_flame(model, landmark_embedding_path=embedding, num_expression=NUM_EXPRESSION + 1)
    head = load_flame(model, landmark_embedding_path=embedding, num_shape=5, num_expression=NUM_EXPRESSION)
    with pytest.raises(ValueError, match=r"shape.*\(batch, 5\)"):
        head(shape=torch.zeros(1, 100))


# --- segmentation texture --------------------------------------------------------------------------


def test_texture_decoding_survives_jpeg_and_drops_non_class_colours():
    names = ["face", "nose", "upper_lip", "left_eyebrow", "uv_background", "neck_base"]
    colours = [SEGMENTATION_COLORS.get(n) or NON_CLASS_COLORS[n] for n in names]
    tile = np.repeat(np.repeat(np.array(colours, dtype=np.uint8)[None], 32, 0), 32, 1)  # (32, 6*32, 3)
    buffer = io.BytesIO()
    Image.fromarray(tile).save(buffer, format="JPEG", quality=75)
    decoded = decode_segmentation_texture(np.asarray(Image.open(buffer)))
    expected = [CLASS_ID.get(n, 0) for n in names]
    centres = decoded[16, 16::32]  # the middle of each colour block
    assert centres.tolist() == expected
    assert expected[-2:] == [0, 0]


# --- real-format files ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flame_on_real_files(tmp_path_factory, assets_dir, flame_template):
    """A FLAME model on the real template (FLAME frame: the DECA template is 1.5 m higher) with the
    real landmark embeddings, UV template and official segmentation texture."""
    folder = tmp_path_factory.mktemp("flame")
    vertices = flame_template.vertices - np.array([0.0, 1.5, 0.0])
    arrays = flame_model_arrays(vertices, flame_template.faces, num_expression=NUM_EXPRESSION)
    write_flame_model(folder / "generic_model.pkl", arrays)
    flame_dir = assets_dir / "flame"
    deca = load_flame(
        folder / "generic_model.pkl",
        landmark_embedding_path=flame_dir / "landmark_embedding.npy",
        uv_template_path=flame_dir / "head_template.obj",
        segmentation_texture_path=flame_dir / "flame_seg_tex.jpg",
        num_expression=NUM_EXPRESSION,
    )
    ringnet = load_flame(
        folder / "generic_model.pkl",
        static_embedding_path=flame_dir / "flame_static_embedding.pkl",
        dynamic_embedding_path=flame_dir / "flame_dynamic_embedding.npy",
        num_expression=NUM_EXPRESSION,
    )
    return deca, ringnet


@pytest.mark.slow
def test_both_landmark_formats_agree(flame_on_real_files):
    deca, ringnet = flame_on_real_files
    assert deca.contour_face_idx.shape == (79, 17)
    for degrees in (-30.0, 0.0, 12.0, 60.0):
        yaw = torch.tensor([np.radians(degrees)])
        a, b = deca(batch_size=1, contour_yaw=yaw), ringnet(batch_size=1, contour_yaw=yaw)
        torch.testing.assert_close(a.landmarks_3d, b.landmarks_3d, rtol=0, atol=1e-7)


def test_dynamic_contour_mirrors_with_yaw(flame_on_real_files):
    head, _ = flame_on_real_files
    for degrees in (10.0, 25.0):
        left = head(batch_size=1, contour_yaw=torch.tensor([np.radians(degrees)])).landmarks_3d[0, :17]
        right = head(batch_size=1, contour_yaw=torch.tensor([np.radians(-degrees)])).landmarks_3d[0, :17]
        mirrored = right.flip(0) * torch.tensor([-1.0, 1.0, 1.0])
        assert (left - mirrored).norm(dim=-1).max() < 3e-3  # FLAME's template is nearly symmetric
        assert not torch.allclose(left, right)


def test_official_texture_labels_the_anatomy(flame_on_real_files):
    head, _ = flame_on_real_files
    assert head.config.segmentation_source == "uv"
    labels, vertices = head.vertex_labels, head.v_template
    present = set(labels.unique().tolist())
    assert {
        CLASS_ID[n]
        for n in (
            "nose",
            "upper_lip",
            "lower_lip",
            "left_ear",
            "right_ear",
            "left_eyeball",
            "right_eyeball",
            "left_eyebrow",
            "right_eyebrow",
        )
    } <= present
    for side, sign in (("left", 1.0), ("right", -1.0)):
        for part in ("ear", "eyeball", "eyebrow"):
            centre_x = vertices[labels == CLASS_ID[f"{side}_{part}"], 0].mean()
            assert sign * centre_x > 0.015, f"{side}_{part} on the wrong side"
    corners = head.faces[head.landmark_face_idx]
    landmark_labels = labels[corners[torch.arange(68), head.landmark_bary.argmax(1)]]
    assert landmark_labels[30] == CLASS_ID["nose"]
    assert set(landmark_labels[36:42].tolist()) == {CLASS_ID["right_eye_region"]}
    assert set(landmark_labels[42:48].tolist()) == {CLASS_ID["left_eye_region"]}
    assert set(landmark_labels[49:54].tolist()) == {CLASS_ID["upper_lip"]}
    assert set(landmark_labels[55:60].tolist()) == {CLASS_ID["lower_lip"]}
