"""Converting a checkpoint in the official Next3D structure into a component and a whole pipeline."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file

from synthforge_hf.cli import main
from synthforge_hf.errors import MalformedAssetError, MissingAssetError
from synthforge_hf.generators.next3d.checkpoint import read_checkpoint, read_network
from synthforge_hf.generators.next3d.convert import load_next3d_checkpoint, read_uv_face_mask
from synthforge_hf.generators.next3d.generator import Next3DFaceGenerator
from synthforge_hf.pipelines.synthforge import SynthForgePipeline
from synthforge_hf.pipelines.synthforge.next3d_conversion import convert_next3d

from .next3d_files import (
    PAYLOAD_FILE,
    as_official_records,
    dump_official_snapshot,
    flame_folder,
    module_source,
    random_next3d,
    write_official_next3d,
)


@pytest.fixture(scope="module")
def original(tmp_path_factory, flame_template, assets_dir):
    return random_next3d(flame_template, assets_dir / "flame" / "uv_face_eye_mask.png", seed=1)


@pytest.fixture()
def snapshot(tmp_path, original, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the payload would leave its file
    return write_official_next3d(tmp_path / "next3d_ffhq_512.pkl", original)


def test_conversion_is_bit_exact_and_runs_nothing(snapshot, original, tmp_path, assets_dir):
    saved = read_network(read_checkpoint(snapshot)["G_ema"])  # as torch_utils.persistence writes it
    assert saved.class_name == "TriPlaneGenerator" and "class TriPlaneGenerator(" in saved.module_src
    out = convert_next3d(
        snapshot, tmp_path / "out", uv_face_mask=assets_dir / "flame" / "uv_face_eye_mask.png"
    )
    assert isinstance(out, Next3DFaceGenerator)
    weights = load_file(tmp_path / "out" / "face_generator" / "diffusion_pytorch_model.safetensors")
    expected = original.next3d.state_dict()
    converted = {k.removeprefix("next3d."): v for k, v in weights.items() if k.startswith("next3d.")}
    assert set(converted) == set(expected)
    for name, tensor in expected.items():
        assert torch.equal(converted[name], tensor) and converted[name].dtype == tensor.dtype, name
    assert torch.equal(weights["uv_face_mask"], original.uv_face_mask)
    config = json.loads((tmp_path / "out" / "face_generator" / "config.json").read_text())
    for key in (
        "z_dim",
        "img_resolution",
        "plane_resolution",
        "mouth_resolution",
        "neural_rendering_resolution",
    ):
        assert config[key] == original.config[key], key
    assert config["sr_block_channels"] == [16, 8] and config["synthesis_kwargs"]["channel_base"] == 512
    assert "topology_path" not in config["synthesis_kwargs"]
    assert not (tmp_path / PAYLOAD_FILE).exists()
    # a strict load of the native network from the converted file
    fresh = Next3DFaceGenerator(**{k: v for k, v in config.items() if not k.startswith("_")})
    fresh.load_state_dict(weights, strict=True)


@pytest.mark.slow
def test_converted_generator_renders_like_the_original(snapshot, original, assets_dir, flame_template):
    converted = load_next3d_checkpoint(  # the depth pass is SynthForge's option, not in the checkpoint
        snapshot, assets_dir / "flame" / "uv_face_eye_mask.png", depth_image_resolution=32
    )
    vertices = torch.from_numpy(flame_template.vertices).float()[None] - torch.tensor([0.0, 1.5, 0.0])
    flame = torch.cat([vertices, vertices[:, 3000:3068]], dim=1)  # any 68 points serve as landmarks here
    from synthforge_hf.rendering.cameras import Cameras

    cameras = Cameras.orbit(torch.tensor([0.2]), torch.tensor([-0.1]), torch.tensor([18.0]))
    z = torch.randn(1, 16)
    with torch.no_grad():
        a, b = original.synthesize(z, cameras, flame), converted.synthesize(z, cameras, flame)
    assert torch.equal(a.image, b.image) and torch.equal(a.image_depth, b.image_depth)


@pytest.mark.slow
def test_whole_pipeline_from_a_flame_folder_and_the_cli(snapshot, tmp_path, flame_template, assets_dir):
    flame_dir = flame_folder(tmp_path / "flame", flame_template, assets_dir)
    code = main(["convert-next3d", str(snapshot), str(tmp_path / "pipe"), "--flame-dir", str(flame_dir)])
    assert code == 0
    pipe = SynthForgePipeline.from_pretrained(tmp_path / "pipe")
    assert isinstance(pipe.face_generator, Next3DFaceGenerator) and pipe.head_model.config.name == "flame"
    assert pipe.face_generator.config.depth_image_resolution == 128
    pipe.set_progress_bar_config(disable=True)
    out = pipe(seeds=[0, 1], resolution=32, output_type="np")
    assert out.images.shape == (2, 32, 32, 3) and out.generator_outputs["depth"].shape == (2, 32, 32)
    assert (out.segmentation > 0).any() and not (tmp_path / PAYLOAD_FILE).exists()
    # the generate command runs the converted pipeline
    assert (
        main(
            [
                "generate",
                "--pipeline",
                str(tmp_path / "pipe"),
                "--num-samples",
                "2",
                "--resolution",
                "32",
                "--out",
                str(tmp_path / "samples"),
            ]
        )
        == 0
    )
    assert len(os.listdir(tmp_path / "samples" / "images")) == 2


@pytest.mark.slow
def test_a_converted_component_runs_with_a_flame_folder(snapshot, tmp_path, flame_template, assets_dir):
    convert_next3d(
        snapshot, tmp_path / "component", uv_face_mask=assets_dir / "flame" / "uv_face_eye_mask.png"
    )
    flame_dir = flame_folder(tmp_path / "flame", flame_template, assets_dir)
    common = ["generate", "--head", "flame", "--head-dir", str(flame_dir), "--num-samples", "1"]
    args = [*common, "--resolution", "32", "--generator", "next3d", "--out", str(tmp_path / "samples")]
    assert main([*args, "--generator-dir", str(tmp_path / "component")]) == 0
    assert (tmp_path / "samples" / "images" / "00000.png").is_file()
    with pytest.raises(SystemExit):  # the component is required
        main(args)


def test_missing_and_wrong_files_are_explained(snapshot, tmp_path, assets_dir):
    with pytest.raises(MissingAssetError, match="uv_face_eye_mask.png from DECA"):
        convert_next3d(snapshot, tmp_path / "out", flame_dir=tmp_path / "empty")
    with pytest.raises(MissingAssetError, match="Next3D"):
        convert_next3d(tmp_path / "missing.pkl", tmp_path / "out")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(MalformedAssetError, match="image"):
        read_uv_face_mask(tmp_path / "broken.png", 32)
    with pytest.raises(MalformedAssetError, match="network 'G_emma'"):
        load_next3d_checkpoint(snapshot, assets_dir / "flame" / "uv_face_eye_mask.png", network="G_emma")
    with pytest.raises(SystemExit, match="uv_face_eye_mask"):  # the CLI says it in one line
        main(["convert-next3d", str(snapshot), str(tmp_path / "out"), "--flame-dir", str(tmp_path)])


def test_a_dotted_legacy_name_still_converts(tmp_path, original, assets_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "training_avatar_texture.triplane_next3d.TriPlaneGenerator"
    path = write_official_next3d(tmp_path / "legacy.pkl", original, class_name=name, module_src="")
    converted = load_next3d_checkpoint(path, assets_dir / "flame" / "uv_face_eye_mask.png")
    for key, tensor in original.next3d.state_dict().items():
        assert torch.equal(converted.next3d.state_dict()[key], tensor), key
    assert not (tmp_path / PAYLOAD_FILE).exists()


def _refusal(path, assets_dir) -> str:
    """The one line that converting ``path`` ends with, from the function and from the CLI."""
    with pytest.raises(MalformedAssetError) as refused:
        load_next3d_checkpoint(path, assets_dir / "flame" / "uv_face_eye_mask.png")
    message = str(refused.value)
    assert message.startswith(f"'{path}': ") and "\n" not in message, message
    mask = ["--uv-mask", str(assets_dir / "flame" / "uv_face_eye_mask.png")]
    with pytest.raises(SystemExit) as cli:
        main(["convert-next3d", str(path), str(path.parent / "out"), *mask])
    assert str(path) in str(cli.value) and "\n" not in str(cli.value), cli.value
    assert not (path.parent / PAYLOAD_FILE).exists()
    return message


def test_a_bare_name_whose_source_does_not_define_the_class_is_refused(
    tmp_path, original, assets_dir, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    for i, source in enumerate([module_source("Generator"), "class TriPlaneGenerator(", ""]):
        path = write_official_next3d(tmp_path / f"{i}.pkl", original, module_src=source)
        message = _refusal(path, assets_dir)
        assert "'TriPlaneGenerator' whose saved module source does not define it" in message


def test_an_unknown_class_is_refused_in_one_line(tmp_path, original, assets_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("Generator", "training.triplane.TriPlaneGenerator"):  # StyleGAN2's, EG3D's dotted
        path = write_official_next3d(tmp_path / "other.pkl", original, class_name=name)
        message = _refusal(path, assets_dir)
        assert f"found class '{name}'; expected Next3D's TriPlaneGenerator" in message


def test_eg3d_s_generator_of_the_same_bare_name_is_refused(tmp_path, original, assets_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    eg3d = as_official_records(original.next3d, "TriPlaneGenerator")  # training/triplane.py defines it too
    for part in ("texture_backbone", "mouth_backbone", "neural_blending"):  # Next3D's own
        del eg3d.state["_modules"][part]
    path = dump_official_snapshot({"G_ema": eg3d}, tmp_path / "eg3d.pkl")
    message = _refusal(path, assets_dir)
    assert "without texture_backbone, mouth_backbone, neural_blending (EG3D's generator?)" in message


def test_a_truncated_checkpoint_is_refused(tmp_path, original, assets_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    truncated = tmp_path / "truncated.pkl"
    shutil.copy(write_official_next3d(tmp_path / "full.pkl", original), truncated)
    truncated.write_bytes(truncated.read_bytes()[:5000])
    with pytest.raises(MalformedAssetError):
        load_next3d_checkpoint(truncated, assets_dir / "flame" / "uv_face_eye_mask.png")


@pytest.mark.slow
def test_conversion_fits_and_saves_the_alignment(snapshot, tmp_path, flame_template, assets_dir):
    flame_dir = flame_folder(tmp_path / "flame", flame_template, assets_dir)
    convert_next3d(
        snapshot, tmp_path / "pipe", flame_dir=flame_dir, alignment_samples=2, alignment_iterations=3
    )
    generator = Next3DFaceGenerator.from_pretrained(tmp_path / "pipe" / "face_generator")
    before, after = generator.alignment_loss.tolist()
    assert after <= before and not torch.equal(generator.alignment_matrix, torch.eye(3))
    assert torch.isfinite(generator.alignment_translation).all()
