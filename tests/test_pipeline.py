"""End-to-end behaviour of SynthForgePipeline on the embedded default head (small sizes, on the
tests' device)."""

import copy
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from synthforge_hf.constants import CLASS_ID, LANDMARK_FLIP_PERMUTATION, SEGMENTATION_FLIP_PERMUTATION
from synthforge_hf.data.pipeline_hash import pipeline_fingerprint
from synthforge_hf.generators.mesh import MeshFaceGenerator
from synthforge_hf.pipelines.synthforge import SynthForgePipeline
from synthforge_hf.pipelines.synthforge.pipeline_synthforge import relative_face_yaw
from synthforge_hf.rendering.annotator import FaceAnnotator
from synthforge_hf.rendering.cameras import Cameras

RES = 96
NOT_FACE = {CLASS_ID[n] for n in ("background", "neck", "neck_back", "scalp", "left_ear", "right_ear")}


@pytest.fixture(scope="module")
def pipe(torch_device):
    pipeline = SynthForgePipeline.from_default_head().to(torch_device)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _frontal(pipe, n=1, **overrides):
    head = pipe.head_model
    args = dict(
        shape=torch.zeros(n, head.num_shape),
        expression=torch.zeros(n, head.num_expression),
        yaw=torch.zeros(n),
        pitch=torch.zeros(n),
        fov=torch.full((n,), 18.0),
    )
    args.update(overrides)
    return pipe(**args, seeds=list(range(n)), resolution=RES, output_type="np")


def test_same_seed_same_sample_and_different_seeds_differ(pipe):
    a = pipe(num_samples=2, generator=torch.Generator().manual_seed(7), resolution=RES, output_type="np")
    b = pipe(num_samples=2, generator=torch.Generator().manual_seed(7), resolution=RES, output_type="np")
    assert np.array_equal(a.images, b.images) and np.array_equal(a.segmentation, b.segmentation)
    assert np.array_equal(a.landmarks_2d, b.landmarks_2d) and np.array_equal(a.depth, b.depth)
    assert not np.array_equal(a.images[0], a.images[1])
    c = pipe(num_samples=2, generator=torch.Generator().manual_seed(8), resolution=RES, output_type="np")
    assert not np.array_equal(a.parameters["shape"], c.parameters["shape"])


def test_a_sample_depends_only_on_its_seed_not_on_the_batch(pipe):
    both = pipe(seeds=[11, 12], resolution=RES, output_type="np", batch_size=2)
    alone = pipe(seeds=[12], resolution=RES, output_type="np")
    # Batched matrix products round differently in float32 (~1e-8 m); labels are unaffected. A batch or seed
    # mix-up changes pixels by far more than 1e-4 (a 8-bit level is 4e-3).
    assert np.allclose(both.images[1], alone.images[0], atol=1e-4)  # 2.3e-5 seen on an AVX512 CPU
    assert np.array_equal(both.segmentation[1], alone.segmentation[0])
    assert np.allclose(both.landmarks_2d[1], alone.landmarks_2d[0], atol=1e-4)
    for key in ("shape", "expression", "yaw", "pitch", "fov", "latents"):
        assert np.array_equal(both.parameters[key][1], alone.parameters[key][0]), key
    # Reproducing from the recorded parameters gives the same sample.
    again = pipe(seeds=[int(alone.parameters["seed"][0])], resolution=RES, output_type="np")
    assert np.array_equal(again.images, alone.images)


def test_sampling_follows_the_configured_ranges(pipe):
    out = pipe(num_samples=16, seeds=list(range(16)), resolution=16, output_type="np")
    p = out.parameters
    assert np.abs(p["shape"]).max() <= 2.0 and np.abs(p["expression"]).max() <= 2.0
    assert np.abs(p["yaw"]).max() <= 0.8 and np.abs(p["pitch"]).max() <= 0.8
    assert p["fov"].min() >= 12.0 and p["fov"].max() <= 27.0
    assert np.all(p["pose"] == 0.0)
    assert p["camera"].shape == (16, 25)


def test_output_types(pipe):
    pil = pipe(seeds=[0], resolution=32, output_type="pil")
    assert pil.images[0].size == (32, 32) and pil.segmentation.shape == (1, 32, 32)
    pt = pipe(seeds=[0], resolution=32, output_type="pt")
    assert pt.images.shape == (1, 3, 32, 32) and pt.images.dtype == torch.float32
    assert 0.0 <= pt.images.min() and pt.images.max() <= 1.0
    assert pt.landmarks_2d.shape == (1, 68, 2) and pt.landmarks_3d.shape == (1, 68, 3)
    assert pt.landmark_visibility.dtype == torch.bool and pt.depth.shape == (1, 32, 32)


def test_landmarks_fall_on_the_face(pipe):
    out = pipe(num_samples=6, seeds=list(range(100, 106)), resolution=RES, output_type="np")
    checked = 0
    for i in range(6):
        for k in range(17, 68):
            if not out.landmark_visibility[i, k]:
                continue
            # A visible point on the silhouette may round onto the background: look 1 px around.
            x, y = np.floor(out.landmarks_2d[i, k]).astype(int)
            around = out.segmentation[i, max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2]
            assert not set(around.ravel().tolist()) <= NOT_FACE, (i, k)
            checked += 1
    assert checked > 6 * 30


def test_nose_tip_is_nearer_than_the_ears_and_depth_is_metric(pipe):
    out = _frontal(pipe)
    seg, depth = out.segmentation[0], out.depth[0]
    ears = np.isin(seg, [CLASS_ID["left_ear"], CLASS_ID["right_ear"]])
    assert ears.sum() > 0
    nose_depth = out.landmarks_3d[0, 30, 2]
    assert nose_depth < depth[ears].min()
    # The frontal camera is 2.7 world units = 1.08 m from the pivot: the face is about a metre away.
    assert 0.9 < nose_depth < 1.2
    x, y = np.floor(out.landmarks_2d[0, 30]).astype(int)
    assert depth[y, x] == pytest.approx(nose_depth, abs=0.005)


def test_opposite_yaws_mirror_landmarks_and_masks(pipe):
    a = 0.5
    plus = _frontal(pipe, yaw=torch.tensor([a]))
    minus = _frontal(pipe, yaw=torch.tensor([-a]))
    mirrored = minus.landmarks_2d[0][list(LANDMARK_FLIP_PERMUTATION)].copy()
    mirrored[:, 0] = RES - mirrored[:, 0]
    assert np.abs(plus.landmarks_2d[0] - mirrored).max() < 0.05
    flipped = np.asarray(SEGMENTATION_FLIP_PERMUTATION)[minus.segmentation[0][:, ::-1]]
    agreement = (flipped == plus.segmentation[0]).mean()
    assert agreement > 0.995


def test_relative_face_yaw_for_camera_and_head_rotation():
    cams = Cameras.orbit(torch.tensor([0.3, 0.0]), torch.tensor([0.0, 0.0]), torch.tensor([18.0, 18.0]))
    pose = torch.zeros(2, 15)
    pose[1, 1] = 0.2  # head turned towards its left (+x) by 0.2 rad about +y
    yaw = relative_face_yaw(pose, cams)
    assert yaw[0].item() == pytest.approx(-0.3, abs=1e-5)
    assert yaw[1].item() == pytest.approx(0.2, abs=1e-5)


def test_head_pose_is_what_the_camera_sees(pipe):
    """Yaw, pitch and roll in degrees: 0 for a frontal face; the camera turned to the subject's left shows
    the face turned to its right (relative_face_yaw's sign, in degrees); a head rolled about the viewing
    axis rolls and does nothing else; a camera below the face sees it turned up."""
    pose = torch.zeros(4, 15)
    pose[2, 2] = 0.25  # the head rolled about +z (the axis out of the face): counter-clockwise on screen
    out = pipe(
        pose=pose,
        yaw=torch.tensor([0.0, 0.4, 0.0, 0.0]),
        pitch=torch.tensor([0.0, 0.0, 0.0, 0.3]),
        seeds=[1, 2, 3, 4],
        resolution=32,
        output_type="np",
    )
    head_pose = out.head_pose
    np.testing.assert_allclose(head_pose[0], [0, 0, 0], atol=1e-3)
    cams = Cameras.orbit(torch.tensor([0.4]), torch.zeros(1), torch.tensor([18.0]))
    expected_yaw = math.degrees(relative_face_yaw(torch.zeros(1, 15), cams).item())
    np.testing.assert_allclose(head_pose[1], [expected_yaw, 0, 0], atol=1e-3)
    assert expected_yaw < -20
    np.testing.assert_allclose(head_pose[2], [0, 0, math.degrees(0.25)], atol=1e-3)
    assert head_pose[3, 1] > 5 and abs(head_pose[3, 0]) < 1e-3 and abs(head_pose[3, 2]) < 1e-3


def test_pupils_sit_in_the_eyes_and_follow_the_layout(pipe):
    """The pupils (FaceSynthetics' points 68 and 69) lie between the corners of the subject's right eye
    (36-39) and left eye (42-45), at the eye line, visible on a frontal face; NaN and hidden for a head
    whose vertices name no eyeballs."""
    out = pipe(seeds=[5], yaw=0.0, pitch=0.0, resolution=128, output_type="np")
    points, pupils = out.landmarks_2d[0], out.pupils_2d[0]
    for pupil, (outer, inner) in zip(pupils, ((36, 39), (45, 42)), strict=True):
        low, high = sorted((points[outer, 0], points[inner, 0]))
        assert low < pupil[0] < high
        assert abs(pupil[1] - points[[outer, inner], 1].mean()) < 0.25 * (high - low)
    assert out.pupil_visibility[0].all()
    head = copy.deepcopy(pipe.head_model)
    head.vertex_labels.zero_()
    unlabelled = SynthForgePipeline(head, pipe.face_generator, pipe.annotator)
    blind = unlabelled(seeds=[5], resolution=32, output_type="np")
    assert np.isnan(blind.pupils_2d).all() and not blind.pupil_visibility.any()


def test_sampled_roll_tilts_the_face_in_the_image():
    """``roll=r`` draws the head's in-plane roll U(-r, r): the eye line tilts by it (counter-clockwise on
    screen for roll > 0), head_pose reports it, and with roll 0 no number is drawn for it (the pipeline
    samples as one made before roll existed: tests/test_mesh_package.py's recorded render)."""
    rolled = SynthForgePipeline.from_default_head(rasterizer="zbuffer", yaw=0.0, pitch=0.0, roll=0.6)
    upright = SynthForgePipeline.from_default_head(rasterizer="zbuffer", yaw=0.0, pitch=0.0)
    for each in (rolled, upright):
        each.set_progress_bar_config(disable=True)
    seeds = list(range(8))
    out = rolled(seeds=seeds, resolution=64, output_type="np")
    roll = out.parameters["pose"][:, 2]
    assert np.abs(roll).max() < 0.6 and np.ptp(roll) > 0.3 and (roll > 0).any() and (roll < 0).any()
    np.testing.assert_allclose(out.head_pose[:, 2], np.degrees(roll), atol=1e-3)
    eye_line = out.landmarks_2d[:, 45] - out.landmarks_2d[:, 36]
    on_screen = np.arctan2(-eye_line[:, 1], eye_line[:, 0])  # image y points down
    np.testing.assert_allclose(on_screen, roll, atol=0.05)
    plain = upright(seeds=seeds, resolution=64, output_type="np")
    assert (plain.parameters["pose"] == 0).all() and np.abs(plain.head_pose[:, 2]).max() < 1e-3
    plain_line = plain.landmarks_2d[:, 45] - plain.landmarks_2d[:, 36]
    assert np.abs(np.arctan2(-plain_line[:, 1], plain_line[:, 0])).max() < 0.05


def test_a_profile_view_hides_the_far_side(pipe):
    """A camera turned 90 degrees to the subject's left sees the face in profile: the left half of the
    jaw line (iBUG 9-16), the left brow and the left eye's outer corner stay visible, the right jaw line
    (0-7) and the right eye (36-41) are hidden behind the head."""
    out = pipe(
        seeds=[2], yaw=math.pi / 2, pitch=0.0, pose=torch.zeros(1, 15), resolution=96, output_type="np"
    )
    visible = out.landmark_visibility[0]
    assert out.head_pose[0, 0] < -89  # the face turned to its right, as the camera sees it
    assert not visible[0:8].any() and not visible[36:42].any()
    assert visible[9:17].all() and visible[22:27].all() and visible[45]


def test_save_and_reload_gives_identical_outputs(pipe, tmp_path, torch_device):
    pipe.save_pretrained(tmp_path / "pipe")
    assert (tmp_path / "pipe" / "head_model" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = SynthForgePipeline.from_pretrained(tmp_path / "pipe").to(torch_device)
    loaded.set_progress_bar_config(disable=True)
    a = pipe(seeds=[3, 4], resolution=48, output_type="np")
    b = loaded(seeds=[3, 4], resolution=48, output_type="np")
    for key in ("images", "segmentation", "landmarks_2d", "landmarks_3d", "depth"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key
    assert loaded.sampling_ranges == pipe.sampling_ranges


@pytest.mark.slow
def test_a_saved_pipeline_loads_in_a_fresh_process(pipe, tmp_path, torch_device):
    """What a user does: `from_pretrained` in a new interpreter, nothing imported beforehand."""
    pipe.save_pretrained(tmp_path / "pipe")
    expected = pipe(seeds=[5], resolution=40, output_type="np").landmarks_2d
    script = (
        "import sys, numpy as np\n"
        "from synthforge_hf import SynthForgePipeline\n"
        "pipe = SynthForgePipeline.from_pretrained(sys.argv[1]).to(sys.argv[3])\n"
        "np.save(sys.argv[2], pipe(seeds=[5], resolution=40, output_type='np').landmarks_2d)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "pipe"), str(tmp_path / "points.npy"), torch_device],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert np.array_equal(np.load(tmp_path / "points.npy"), expected)


def test_bad_inputs_give_clear_errors(pipe):
    with pytest.raises(ValueError, match="resolution"):
        pipe(num_samples=1, resolution=0)
    with pytest.raises(ValueError, match="shape"):
        pipe(shape=torch.zeros(1, pipe.head_model.num_shape + 3), resolution=16)
    with pytest.raises(ValueError, match="inconsistent batch sizes"):
        pipe(num_samples=2, yaw=torch.zeros(3), resolution=16)
    with pytest.raises(ValueError, match="output_type"):
        pipe(num_samples=1, resolution=16, output_type="jpeg")
    with pytest.raises(ValueError, match="generators"):
        pipe(num_samples=2, generator=[torch.Generator()], resolution=16)
    with pytest.raises(TypeError, match="real numbers"):
        pipe(shape=torch.zeros(1, pipe.head_model.num_shape, dtype=torch.bool), resolution=16)
    with pytest.raises(TypeError, match="must hold integers"):
        pipe.prepare_parameters(1, {"seed": torch.tensor([0.5])}, None, [0])


@pytest.mark.parametrize(
    "argument, value",
    [
        ("yaw", float("nan")),
        ("pitch", float("nan")),
        ("fov", float("nan")),
        ("fov", 0.0),
        ("fov", -10.0),
        ("fov", 180.0),
        ("yaw", 4.0),
        ("pitch", math.pi / 2),
        ("shape", None),
    ],
)
def test_numbers_no_camera_can_take_are_refused_naming_the_argument(pipe, argument, value):
    """A NaN or out-of-range camera value (or a NaN in the head's parameters) used to give NaN landmarks
    and an empty face without an error."""
    if argument == "shape":
        value = torch.full((1, pipe.head_model.num_shape), float("nan"))
    with pytest.raises(ValueError, match=f"^`{argument}` must hold"):
        pipe(**{argument: value}, resolution=16)


def test_seeds_outside_63_bits_are_refused(pipe):
    for seeds in ([-1], [2**63], [2**70]):
        with pytest.raises(ValueError, match="^`seed.*from 0 to 2\\*\\*63 - 1"):
            pipe(seeds=seeds, resolution=16)


def test_numbers_from_sliders_apply_to_every_sample(pipe):
    """The Space's sliders give Python ints and floats: one number is every sample's value, and an
    integer is as good as the same float."""
    from_numbers = pipe(
        num_samples=2, seeds=[3, 4], yaw=0, pitch=0.1, fov=18, resolution=16, output_type="np"
    )
    as_tensors = pipe(
        seeds=[3, 4],
        yaw=torch.zeros(2),
        pitch=torch.full((2,), 0.1),
        fov=torch.full((2,), 18.0),
        resolution=16,
        output_type="np",
    )
    assert np.array_equal(from_numbers.parameters["fov"], [18.0, 18.0])
    assert np.array_equal(from_numbers.images, as_tensors.images)
    assert np.array_equal(from_numbers.landmarks_2d, as_tensors.landmarks_2d)
    assert pipe.dtype == torch.float32


def test_custom_sampling_ranges_round_trip(tmp_path):
    pipe = SynthForgePipeline.from_default_head(yaw=0.1, fov=(20.0, 21.0))
    pipe.set_progress_bar_config(disable=True)
    out = pipe(num_samples=4, seeds=[0, 1, 2, 3], resolution=16, output_type="np")
    assert np.abs(out.parameters["yaw"]).max() <= 0.1
    assert out.parameters["fov"].min() >= 20.0 and out.parameters["fov"].max() <= 21.0
    assert math.isclose(pipe.sampling_ranges.pitch, 0.8)


def test_from_assets_builds_named_components_and_takes_given_ones(pipe, tmp_path):
    assert pipeline_fingerprint(SynthForgePipeline.from_assets()) == pipeline_fingerprint(pipe)
    head, generator = pipe.head_model, MeshFaceGenerator(skin_texture_strength=0.2)
    annotator = FaceAnnotator(rasterizer="open3d")
    built = SynthForgePipeline.from_assets(head, generator, annotator, yaw=0.2)
    assert built.head_model is head and built.face_generator is generator and built.annotator is annotator
    assert built.sampling_ranges.yaw == 0.2
    generator.save_pretrained(tmp_path / "mesh")
    SynthForgePipeline.from_assets(head, generator).save_pretrained(tmp_path / "pipeline")
    for folder in ("mesh", "pipeline"):  # a component folder, or a pipeline's face_generator/
        loaded = SynthForgePipeline.from_assets(head, "mesh", generator_dir=tmp_path / folder)
        assert loaded.face_generator.config.skin_texture_strength == 0.2, folder


def test_from_assets_names_what_is_missing_or_unknown(pipe, tmp_path):
    head = pipe.head_model
    for kwargs, message in (
        ({"head": "flame"}, "head 'flame' needs head_dir"),
        ({"head": "smpl"}, "unknown head 'smpl'"),
        ({"head": "default", "head_dir": tmp_path}, "head_dir is read only"),
        ({"head": head, "head_dir": tmp_path}, "head_dir is read only"),
        ({"head": head, "generator": "next3d"}, "generator 'next3d' needs generator_dir"),
        ({"head": head, "generator": "gan"}, "unknown generator 'gan'"),
        (
            {"head": head, "generator": MeshFaceGenerator(), "generator_dir": tmp_path},
            "generator_dir is read",
        ),
    ):
        with pytest.raises(ValueError, match=message):
            SynthForgePipeline.from_assets(**kwargs)


def _record_calls(pipe, order: list[str]) -> list:
    """Forward pre-hooks that append each component's name to ``order`` when it runs."""
    modules = {name: c for name, c in pipe.components.items() if isinstance(c, torch.nn.Module)}
    return [
        module.register_forward_pre_hook(lambda *_, name=name: order.append(name))
        for name, module in modules.items()
    ]


def test_the_offload_sequence_is_the_order_the_call_runs_the_components(pipe):
    """Model offload loads each component as its forward starts and offloads the one before: the
    sequence must be the order in which `__call__` runs them (here in each of two batches)."""
    order = []
    handles = _record_calls(pipe, order)
    try:
        pipe(seeds=[0, 1], resolution=16, batch_size=1, output_type="np")
    finally:
        for handle in handles:
            handle.remove()
    assert order == SynthForgePipeline.model_cpu_offload_seq.split("->") * 2


@pytest.mark.parametrize("device_given", [True, pytest.param(False, marks=pytest.mark.gpu)])
def test_model_cpu_offload_gives_the_same_samples(torch_device, device_given):
    """The default pipeline's components hold only buffers: offload keeps them where the pipeline
    executes (accelerate's hook cannot place a module without parameters). Without a device diffusers
    picks the accelerator."""
    pipe = SynthForgePipeline.from_default_head()
    pipe.set_progress_bar_config(disable=True)
    device = torch.device(torch_device if device_given else "cuda")
    expected = pipe.to(device)(seeds=[4, 9], resolution=32, output_type="np")
    pipe.enable_model_cpu_offload(**({"device": torch_device} if device_given else {}))
    out = pipe(seeds=[4, 9], resolution=32, output_type="np")
    assert pipe._execution_device.type == device.type
    assert {pipe.head_model.device.type, pipe.annotator.device.type, pipe.face_generator.device.type} == {
        device.type
    }
    for key in ("images", "segmentation", "landmarks_2d", "depth"):
        np.testing.assert_array_equal(getattr(out, key), getattr(expected, key), err_msg=key)


def test_components_compute_in_the_pipeline_dtype_on_its_device(torch_device):
    """Moved to float64, the posed head and the annotations come in float64 on the pipeline's device: no
    tensor on the way was made with a fixed dtype, or on the CPU (mixing either raises or shows here).
    The outputs are float32 on the CPU, as documented."""
    pipe = SynthForgePipeline.from_default_head().to(torch_device, torch.float64)
    pipe.set_progress_bar_config(disable=True)
    seen = {}
    for name in ("head_model", "annotator"):
        getattr(pipe, name).register_forward_hook(lambda _, __, out, name=name: seen.setdefault(name, out))
    out = pipe(seeds=[3], resolution=32, output_type="pt")
    assert pipe.dtype == torch.float64 and pipe._execution_device.type == torch.device(torch_device).type
    head, labels = seen["head_model"], seen["annotator"]
    for name, tensor in {
        "vertices": head.vertices,
        "landmarks_3d (head)": head.landmarks_3d,
        "depth": labels.depth,
        "landmarks_2d": labels.landmarks_2d,
        "landmarks_3d": labels.landmarks_3d,
    }.items():
        assert tensor.dtype == torch.float64, name
        assert tensor.device.type == torch.device(torch_device).type, name
    assert labels.segmentation.device.type == torch.device(torch_device).type
    assert out.images.dtype == out.depth.dtype == torch.float32 and out.depth.device.type == "cpu"
    assert (out.segmentation > 0).any()


def test_the_neck_runs_out_of_every_frame_the_sampler_sees(pipe):
    # The sampler's widest field of view and steepest views: the bottom edge under the chin is neck, never
    # the background beyond a closed end of the neck (the old head's neck ended in view, as a V).
    yaw = torch.tensor([0.0, 0.0, 0.0, 0.8, -0.8, 0.8, -0.8])
    pitch = torch.tensor([0.0, 0.8, -0.8, 0.8, 0.8, -0.8, -0.8])
    out = _frontal(pipe, n=7, yaw=yaw, pitch=pitch, fov=torch.full((7,), 27.0))
    bottom = out.segmentation[:, -1, RES // 2 - 1 : RES // 2 + 1]
    assert np.isin(bottom, [CLASS_ID["neck"], CLASS_ID["neck_back"]]).all(), bottom
