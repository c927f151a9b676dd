"""The assembled Next3D generator: official layout, texture rasterization, plane blending, seeding, and
its place in `SynthForgePipeline`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthforge_hf.generators.next3d.generator import Next3DFaceGenerator, latent_seed
from synthforge_hf.generators.next3d.texture import (
    ORTHOGRAPHIC_VIEWS,
    dense_grid_triangles,
    fill_enclosed_holes,
    mouth_boxes,
    orthographic_view,
    rasterize_orthographic,
)
from synthforge_hf.generators.next3d.triplane import TriPlaneGenerator
from synthforge_hf.pipelines.synthforge import SynthForgePipeline
from synthforge_hf.rendering.cameras import ORTH_SCALE, ORTH_SHIFT, Cameras

from .next3d_files import flame_folder, random_next3d

TOP_LEVEL_BUFFERS = {
    "dense_faces": (1, 122990, 3),
    "faces": (1, 9976, 3),
    "raw_uvcoords": (1, 5118, 2),
    "uvcoords": (1, 5118, 3),
    "uvfaces": (1, 9976, 3),
    "face_uvcoords": (1, 9976, 3, 3),
}


@pytest.fixture(scope="module")
def flame_dir(tmp_path_factory, flame_template, assets_dir):
    return flame_folder(tmp_path_factory.mktemp("flame"), flame_template, assets_dir)


def _next3d_pipeline(flame_dir, flame_template) -> SynthForgePipeline:
    generator = random_next3d(flame_template, flame_dir / "uv_face_eye_mask.png")
    pipe = SynthForgePipeline.from_assets("flame", generator, head_dir=flame_dir)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def pipe(flame_dir, flame_template, torch_device):
    return _next3d_pipeline(flame_dir, flame_template).to(torch_device)


def _template_vertices(template) -> torch.Tensor:
    return torch.from_numpy(template.vertices - np.array([0.0, 1.5, 0.0])).float()[None]


def test_the_released_configuration_has_the_official_layout():
    with torch.device("meta"):
        generator = Next3DFaceGenerator()
    state = generator.next3d.state_dict()
    # 668 network tensors (texture, mouth, tri-plane, blending StyleGAN2/StyleUNets, super-resolution,
    # decoder) and the 6 topology buffers; 172.8 M parameters
    assert len(state) == 674 and sum(1 for k in state if "." in k) == 668
    assert sum(p.numel() for p in generator.next3d.parameters()) == 172_815_807
    assert {k: tuple(v.shape) for k, v in state.items() if "." not in k} == TOP_LEVEL_BUFFERS
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    assert shapes["decoder.net.0.weight"] == (64, 32) and shapes["decoder.net.2.weight"] == (33, 64)
    assert shapes["backbone.mapping.fc1.weight"] == (512, 512) and "backbone.mapping.fc2.weight" not in shapes
    assert shapes["backbone.synthesis.b256.torgb.weight"] == (96, 128, 1, 1)
    assert shapes["mouth_backbone.synthesis.encoder.3.conv2.weight"] == (512, 512, 3, 3)
    assert shapes["neural_blending.synthesis.encoder.2.conv2.weight"] == (512, 512, 3, 3)
    assert "neural_blending.synthesis.encoder.3.conv1.weight" not in shapes
    assert shapes["neural_blending.synthesis.fusion.3.weight"] == (128, 256, 3, 3)
    assert shapes["superresolution.block1.conv1.noise_const"] == (512, 512)
    # the component adds its own buffers beside the official ones
    assert set(generator.state_dict()) - {f"next3d.{k}" for k in state} == {
        "uv_face_mask",
        "alignment_matrix",
        "alignment_translation",
        "alignment_loss",
    }


def test_topology_buffers_follow_the_official_formulas(flame_template):
    with torch.device("meta"):
        official_count = TriPlaneGenerator(512, 25, 512, 512, 3).dense_faces.shape[1]
    assert official_count == 122990
    # the official loops: x outer, y inner, two triangles per cell, corners reordered [0, 2, 1]
    expected = []
    width, height = 12, 14
    for x in range(2, width - 1 - 2):
        for y in range(5, height - 1 - 5):
            a = [y * width + x, y * width + x + 1, (y + 1) * width + x]
            b = [y * width + x + 1, (y + 1) * width + x + 1, (y + 1) * width + x]
            expected += [[a[0], a[2], a[1]], [b[0], b[2], b[1]]]
    assert dense_grid_triangles(height, width).tolist() == expected

    generator = TriPlaneGenerator(
        16, 25, 16, 64, 3, plane_resolution=32, mouth_resolution=16, channel_base=256
    )
    uvs = torch.from_numpy(flame_template.uvs).float()
    generator.set_topology(
        torch.from_numpy(flame_template.faces), uvs, torch.from_numpy(flame_template.uv_faces)
    )
    f, k = 1234, 2
    u, v = uvs[flame_template.uv_faces[f, k]].tolist()
    torch.testing.assert_close(generator.face_uvcoords[0, f, k], torch.tensor([2 * u - 1, 1 - 2 * v, 1.0]))
    assert torch.equal(generator.faces[0], torch.from_numpy(flame_template.faces).long())
    with pytest.raises(ValueError, match="faces"):
        generator.set_topology(torch.zeros(10, 3), uvs, torch.zeros(10, 3))


@pytest.mark.slow
def test_orthographic_rasterizers_agree_and_keep_the_faces_turned_to_the_view(flame_template):
    vertices = _template_vertices(flame_template)
    faces = torch.from_numpy(flame_template.faces).long()
    shift = torch.tensor([ORTH_SHIFT])
    corners = vertices[0, faces]
    normals = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    towards_view = {(0.0, 0.0, 0.0): normals[:, 2], (90.0, 0.0, 0.0): normals[:, 1]}  # front: +z, top: +y
    for view in ORTHOGRAPHIC_VIEWS:
        projected = orthographic_view(vertices, view, shift, ORTH_SCALE)
        official = rasterize_orthographic(projected, faces, 64, "pytorch3d")
        for backend in ("open3d", "zbuffer"):
            ours = rasterize_orthographic(projected, faces, 64, backend)
            same = ours.face_index == official.face_index
            assert same.float().mean() > 0.999 and ours.foreground.float().mean() > 0.15
            both = same & ours.foreground
            torch.testing.assert_close(ours.barycentric[both], official.barycentric[both], atol=3e-3, rtol=0)
            if view in towards_view:
                hit = ours.face_index[ours.foreground]
                assert (towards_view[view][hit] > 0).all()
    # the front view is the head seen from +z, its top (+y) at the bottom rows (grid y = 5 (y - 0.01))
    front = orthographic_view(vertices, ORTHOGRAPHIC_VIEWS[0], shift, ORTH_SCALE)
    torch.testing.assert_close(front[..., 1], 5 * (vertices[..., 1] + 0.01))
    torch.testing.assert_close(front[..., 0], 5 * vertices[..., 0])


def test_hole_filling_by_hand():
    alpha = torch.zeros(1, 1, 7, 7)
    alpha[0, 0, 1:6, 1:6] = 1.0
    alpha[0, 0, 2:5, 2:5] = 0.0  # a hole enclosed by opaque pixels
    alpha[0, 0, 3, 3] = 0.3
    alpha[0, 0, 1, 1] = 0.999  # nearly opaque: the official arithmetic rounds it up
    alpha[0, 0, 6, 6] = 0.5  # outside, reached from the corner: kept
    filled = fill_enclosed_holes(alpha)[0, 0]
    expected = alpha[0, 0].clone()
    expected[2:5, 2:5] = 1.0
    expected[1, 1] = 1.0
    assert torch.equal(filled, expected)
    # a gap in the ring (4-connectivity) lets the fill in: nothing is enclosed any more
    alpha[0, 0, 3, 1] = 0.0
    assert torch.equal(fill_enclosed_holes(alpha)[0, 0, 2:5, 2:5], alpha[0, 0, 2:5, 2:5])


def test_mouth_box_by_hand():
    landmarks = torch.zeros(1, 68, 2)
    landmarks[0, 48:60] = torch.tensor(
        [[-0.20, 0.30], [-0.10, 0.26], [-0.03, 0.25], [0.00, 0.26], [0.03, 0.25], [0.10, 0.26]]
        + [[0.18, 0.30], [0.10, 0.34], [0.03, 0.36], [0.00, 0.36], [-0.03, 0.36], [-0.10, 0.34]]
    )
    # pixels at R = 64: p = 32 g + 32. x spans 25.6 .. 37.76 (12.16), y 40.0 .. 43.52 (3.52):
    # int(12.16 * 1.2) // 2 = 7; the centre of the corners 48 and 54 is (31.68, 41.6)
    # -> rows int(34.6) .. int(48.6), columns int(24.68) .. int(38.68)
    assert mouth_boxes(landmarks, 64) == [(34, 48, 24, 38)]


@pytest.mark.slow
def test_texture_reaches_only_the_front_plane(pipe, flame_template, torch_device):
    generator = pipe.face_generator.next3d
    head = pipe.head_model(batch_size=1)
    v = torch.cat([head.vertices, head.landmarks_3d], 1)
    ws = generator.mapping(torch.randn(1, 16, device=torch_device), torch.zeros(1, 25, device=torch_device))
    mask = pipe.face_generator.uv_face_mask
    static = generator.backbone.synthesis(ws[:, :8]).reshape(1, 3, 32, 32, 32)
    with torch.no_grad():
        front = generator.blended_planes(ws, v, mask, blend="front")
        everywhere = generator.blended_planes(ws, v, mask, blend="all")
    assert torch.equal(front[:, 1:], static[:, 1:]) and not torch.allclose(front[:, 0], static[:, 0])
    assert not torch.allclose(everywhere[:, 1], static[:, 1]) and not torch.allclose(
        everywhere[:, 2], static[:, 2]
    )
    torch.testing.assert_close(everywhere[:, 0], front[:, 0])


@pytest.mark.slow
def test_generation_is_seeded_per_sample_and_batch_independent(pipe):
    first = pipe(seeds=[3, 11], resolution=48, output_type="pt")
    again = pipe(seeds=[3, 11], resolution=48, output_type="pt")
    alone = pipe(seeds=[11], resolution=48, output_type="pt")
    assert first.images.shape == (2, 3, 48, 48) and torch.equal(first.images, again.images)
    torch.testing.assert_close(alone.images[0], first.images[1], atol=1e-5, rtol=0)
    assert not torch.allclose(first.images[0], first.images[1])
    extras = first.generator_outputs
    assert extras["depth"].shape == (2, 48, 48) and extras["image_raw"].shape == (2, 3, 16, 16)
    # Next3D's depth lies inside its ray range: 2.25 .. 3.3 world units = 0.9 .. 1.32 m from the camera
    assert (extras["depth"] > 0.85).all() and (extras["depth"] < 1.4).all()
    for name in ("landmark_depth_error", "depth_residual"):
        assert extras[name].shape == (2,) and torch.isfinite(extras[name]).all()
    latents = first.parameters["latents"]
    assert latents.shape == (2, 16) and latent_seed(latents[0]) == latent_seed(latents[0].clone())
    changed = pipe(seeds=[3, 11], latents=latents.flip(0), resolution=48, output_type="pt")
    assert not torch.allclose(changed.images[0], first.images[0])  # another z, another face
    assert torch.equal(changed.segmentation, first.segmentation)  # on the same mesh: the same labels


@pytest.mark.slow
def test_saved_pipeline_reloads_and_regenerates(pipe, tmp_path, torch_device):
    pipe.face_generator.set_alignment(torch.eye(3) * 1.01, torch.tensor([0.0, 0.01, 0.0]), (2.0, 1.0))
    try:
        out = pipe(seeds=[5], resolution=32, output_type="pt")
        pipe.save_pretrained(tmp_path / "pipe")
        loaded = SynthForgePipeline.from_pretrained(tmp_path / "pipe").to(torch_device)
        loaded.set_progress_bar_config(disable=True)
        assert isinstance(loaded.face_generator, Next3DFaceGenerator)
        assert loaded.face_generator.alignment_loss.tolist() == [2.0, 1.0]
        again = loaded(seeds=[5], resolution=32, output_type="pt")
        # The weights round-trip bit for bit; the float paths may not (seen on an AVX512 CPU: images and
        # landmarks a few ulp apart), so both agree to float rounding, far below a pixel or a colour level.
        torch.testing.assert_close(again.images, out.images, atol=1e-5, rtol=0)
        torch.testing.assert_close(again.landmarks_2d, out.landmarks_2d, atol=1e-4, rtol=0)
    finally:
        pipe.face_generator.set_alignment(torch.eye(3), torch.zeros(3))


def test_the_alignment_moves_the_annotations_not_the_image(pipe):
    base = pipe(seeds=[7], resolution=64, output_type="pt")
    pipe.face_generator.set_alignment(torch.eye(3), torch.tensor([0.05, 0.0, 0.0]))  # 2 cm to +x (world)
    try:
        shifted = pipe(seeds=[7], resolution=64, output_type="pt")
    finally:
        pipe.face_generator.set_alignment(torch.eye(3), torch.zeros(3))
    assert torch.equal(shifted.images, base.images)
    moved = (shifted.landmarks_2d - base.landmarks_2d)[0]
    # yaw != 0 in general, but +x world always projects to the image's right for these orbit cameras
    assert (moved[:, 0] > 0).all() and moved[:, 0].mean() > 0.5


def test_a_head_without_flame_topology_is_refused(flame_dir, flame_template):
    generator = random_next3d(flame_template, flame_dir / "uv_face_eye_mask.png")
    pipe = SynthForgePipeline.from_assets("default", generator)
    with pytest.raises(ValueError, match="FLAME"):
        pipe(seeds=[0], resolution=16)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="blend"):
        Next3DFaceGenerator(blend="sides")
    with pytest.raises(ValueError, match="conditioning"):
        Next3DFaceGenerator(conditioning="none")
    with pytest.raises(NotImplementedError, match="SuperresolutionHybrid8XDC"):
        TriPlaneGenerator(
            16, 25, 16, 64, 3, rendering_kwargs={"superresolution_module": "x.SuperresolutionHybrid4X"}
        )


@pytest.mark.slow
def test_dataset_keeps_the_residuals_and_rejects_by_them(pipe, tmp_path):
    from datasets import load_dataset

    from synthforge_hf.data.generate import generate_dataset, split_counts
    from synthforge_hf.data.shards import sample_seed
    from synthforge_hf.hub.dataset_card import write_dataset_card

    seeds = [sample_seed(0, "train", i) for i in range(4)]
    errors = pipe(seeds=seeds, resolution=32, output_type="np").generator_outputs["landmark_depth_error"]
    threshold = float(np.median(errors))
    summary = generate_dataset(
        pipe,
        tmp_path,
        {"train": 4},
        shard_size=2,
        resolution=32,
        max_landmark_depth_error=threshold,
        progress=False,
    )
    kept = [i for i in range(4) if errors[i] <= threshold]
    assert summary.written == len(kept) and summary.rejected == 4 - len(kept) and 0 < len(kept) < 4
    rows = load_dataset(str(tmp_path), split="train")
    assert sorted(rows["index"]) == kept
    for row in rows:
        assert row["landmark_depth_error"] == pytest.approx(float(errors[row["index"]]), rel=1e-6)
        assert row["depth_residual"] > 0
    assert split_counts(tmp_path) == {"train": {"num_rows": len(kept), "rejected": 4 - len(kept)}}
    card = write_dataset_card(tmp_path).read_text()
    assert (
        f"more than {threshold * 1000:g} mm from the visible landmarks" in card
        and "Next3DFaceGenerator" in card
    )
    assert "license_name: flame-and-nvidia-source-code-license-nc" in card  # both terms carry over


def test_rejecting_by_residuals_needs_a_backend_that_reports_them(tmp_path):
    from synthforge_hf.data.generate import generate_dataset

    with pytest.raises(ValueError, match="landmark_depth_error"):
        generate_dataset(
            SynthForgePipeline.from_default_head(), tmp_path, {"train": 1}, max_landmark_depth_error=0.01
        )


@pytest.mark.slow
def test_the_space_generates_with_a_converted_next3d_pipeline(pipe, tmp_path):
    pytest.importorskip("gradio", reason="the Space needs the `space` extra (gradio)")
    from .test_space import _app_module

    pipe.save_pretrained(tmp_path / "pipeline")
    space = _app_module().Generator(str(tmp_path / "pipeline"))
    assert isinstance(space.pipe.face_generator, Next3DFaceGenerator)
    panels = [np.asarray(p) for p in space(1.0, 0.5, 0.1, 0.2, 0.0, 18.8, 5)]
    again = [np.asarray(p) for p in space(1.0, 0.5, 0.1, 0.2, 0.0, 18.8, 5)]
    assert all(p.shape[:2] == panels[0].shape[:2] for p in panels) and panels[0].std() > 1
    assert all(np.array_equal(a, b) for a, b in zip(panels, again, strict=True))


@pytest.mark.slow
def test_compiled_networks_give_the_same_image_and_state_dict(flame_dir, flame_template, torch_device):
    generator = random_next3d(flame_template, flame_dir / "uv_face_eye_mask.png").to(torch_device)
    vertices = _template_vertices(flame_template).to(torch_device)
    flame = torch.cat([vertices, vertices[:, :68]], dim=1)
    cameras = Cameras.orbit(torch.zeros(1), torch.zeros(1), torch.full((1,), 18.0)).to(torch_device)
    z = torch.randn(1, 16, device=torch_device)
    keys = list(generator.state_dict())
    with torch.no_grad():
        plain = generator.synthesize(z, cameras, flame).image
        generator.compile_networks(backend="eager")  # TorchDynamo graph capture; inductor is slow on CPU
        compiled = generator.synthesize(z, cameras, flame).image
    assert torch.equal(plain, compiled) and list(generator.state_dict()) == keys


@pytest.mark.parametrize("device_given", [True, pytest.param(False, marks=pytest.mark.gpu)])
@pytest.mark.slow
def test_model_cpu_offload_moves_next3d_in_and_out(flame_dir, flame_template, torch_device, device_given):
    """Offload hooks the component with parameters (Next3D): it runs where the pipeline executes and
    is back on the CPU after the call, while the FLAME head, whose buffers the annotator and Next3D
    read, stays there; the samples do not change. Without a device diffusers picks the accelerator."""
    pipe = _next3d_pipeline(flame_dir, flame_template)
    device = torch.device(torch_device if device_given else "cuda")
    expected = pipe.to(device)(seeds=[2, 6], resolution=32, output_type="pt")
    pipe.enable_model_cpu_offload(**({"device": torch_device} if device_given else {}))
    assert hasattr(pipe.face_generator, "_hf_hook") and not hasattr(pipe.head_model, "_hf_hook")
    ran_on = []
    pipe.face_generator.register_forward_hook(lambda module, *_: ran_on.append(module.device.type))
    out = pipe(seeds=[2, 6], resolution=32, output_type="pt")
    assert ran_on == [device.type] and pipe._execution_device.type == device.type
    assert pipe.face_generator.device.type == "cpu" and pipe.head_model.device.type == device.type
    torch.testing.assert_close(out.images, expected.images)
    for key in ("segmentation", "landmarks_2d", "depth"):
        assert torch.equal(getattr(out, key), getattr(expected, key)), key


def test_ray_chunks_per_device():
    """ "auto" renders whole images on CUDA (the official code's way) and 2048-ray chunks on a CPU."""
    from synthforge_hf.generators.next3d.generator import CPU_RAY_CHUNK, ray_chunk_for

    assert (
        ray_chunk_for("auto", "cuda:0") is None
        and ray_chunk_for("auto", torch.device("cpu")) == CPU_RAY_CHUNK
    )
    assert ray_chunk_for(512, "cuda") == 512 and ray_chunk_for(None, "cpu") is None
    for bad in (0, -4, "big", 2.5, True):
        with pytest.raises(ValueError, match="ray_chunk_size"):
            ray_chunk_for(bad, "cpu")
    with pytest.raises(ValueError, match="ray_chunk_size"):
        Next3DFaceGenerator(ray_chunk_size="all")
