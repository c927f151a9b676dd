"""SynthForge SB model, image processor and augmentations."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForSemanticSegmentation

from synthforge_hf.constants import CLASS_ID, LANDMARK_FLIP_PERMUTATION
from synthforge_hf.models.synthforge import (
    SynthForgeConfig,
    SynthForgeFaceAnalysisOutput,
    SynthForgeForFaceAnalysis,
    SynthForgeImageProcessor,
    SynthForgeModel,
)
from synthforge_hf.models.synthforge.heatmaps import decode_heatmaps, gaussian_heatmaps, modulate_heatmaps
from synthforge_hf.models.synthforge.modeling_synthforge import UNet, norm_layer
from synthforge_hf.training.augment import affine_matrices, affine_warp, horizontal_flip


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).eval()


def test_output_shapes_and_labels(model):
    out = model(torch.randn(2, 3, 64, 64))
    assert isinstance(out, SynthForgeFaceAnalysisOutput) and out.loss is None
    assert out.logits.shape == (2, 20, 64, 64) and out.depth.shape == (2, 64, 64)
    assert out.heatmaps.shape == (2, 68, 16, 16) and out.landmarks.shape == (2, 68, 2)
    assert out.features.shape == (2, 16, 64, 64)
    from synthforge_hf.training.sb import build_config

    assert build_config("tiny").id2label[CLASS_ID["nose"]] == "nose"


@pytest.mark.parametrize("normalization", ["batch", "group"])
def test_normalization_kinds_and_channels_last_give_the_same_outputs(normalization):
    torch.manual_seed(0)
    net = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny(normalization=normalization)).eval()
    kinds = {type(m) for m in net.modules() if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm))}
    assert kinds == {torch.nn.BatchNorm2d if normalization == "batch" else torch.nn.GroupNorm}
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        reference = net(pixels)
        net.to(memory_format=torch.channels_last)
        fast = net(pixels.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(fast.logits, reference.logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fast.heatmaps, reference.heatmaps, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="normalization must be 'batch' or 'group'"):
        SynthForgeConfig.tiny(normalization="layer")


def test_target_heatmaps_by_hand():
    target = gaussian_heatmaps(torch.tensor([[[38.0, 22.0]]]), (16, 16), 4, 1.5)
    assert target[0, 0, 5, 9] == pytest.approx(1.0)  # cell centre (38, 22)
    assert target[0, 0, 5, 10] == pytest.approx(math.exp(-1 / (2 * 1.5**2)), rel=1e-5)


def test_decoding_target_heatmaps_gives_the_landmarks_back():
    generator = torch.Generator().manual_seed(0)
    stride, cells = 4, 32
    points = (1 + torch.rand(3, 68, 2, generator=generator) * (cells - 2)) * stride  # off the border cells
    heatmaps = gaussian_heatmaps(points, (cells, cells), stride, 1.5)
    for modulation_sigma in (None, 1.5):  # as predicted, or smoothed first as the SB decodes
        decoded = decode_heatmaps(heatmaps, stride, modulation_sigma)
        error_in_cells = ((decoded - points).norm(dim=-1) / stride).max().item()
        assert error_in_cells < 0.05, modulation_sigma
    # The arg-max cell alone is off by up to half a cell: the refinement is what makes it sub-pixel.
    cell_centres = (torch.floor(points / stride) + 0.5) * stride
    assert ((cell_centres - points).norm(dim=-1) / stride).max().item() > 0.3


def test_modulation_decodes_noisy_heatmaps_more_accurately():
    """A predicted map is a noisy Gaussian: smoothing it first (DARK's modulation) brings the decoded
    points closer than the Newton step on the raw map; a broken blur (shifted kernel) would not."""
    generator = torch.Generator().manual_seed(2)
    stride, cells = 4, 32
    points = (6 + torch.rand(4, 68, 2, generator=generator) * (cells - 12)) * stride
    heatmaps = gaussian_heatmaps(points, (cells, cells), stride, 1.5)
    noisy = (heatmaps + 0.08 * torch.randn(heatmaps.shape, generator=generator)).clamp(min=0)
    raw = (decode_heatmaps(noisy, stride) - points).norm(dim=-1).mean()
    modulated = (decode_heatmaps(noisy, stride, 1.5) - points).norm(dim=-1).mean()
    assert modulated < 0.8 * raw, (modulated, raw)
    smoothed = modulate_heatmaps(heatmaps, 1.5)
    torch.testing.assert_close(smoothed.amax(dim=(2, 3)), heatmaps.amax(dim=(2, 3)))  # peaks kept
    torch.testing.assert_close(modulate_heatmaps(heatmaps.flip(-1), 1.5), smoothed.flip(-1))


def test_decoding_is_flip_equivariant_and_ignores_flat_maps():
    heatmaps = torch.rand(2, 5, 16, 16, generator=torch.Generator().manual_seed(1))
    points = decode_heatmaps(heatmaps, 4)
    mirrored = decode_heatmaps(heatmaps.flip(-1), 4)
    torch.testing.assert_close(mirrored[..., 0], 64 - points[..., 0], atol=1e-4, rtol=0)
    torch.testing.assert_close(mirrored[..., 1], points[..., 1], atol=1e-4, rtol=0)
    flat = torch.zeros(1, 1, 16, 16)
    flat[0, 0, 3, 7] = 1.0  # one hot cell: not locally Gaussian along either axis -> its centre
    torch.testing.assert_close(decode_heatmaps(flat, 4)[0, 0], torch.tensor([7.5 * 4, 3.5 * 4]))


def test_losses_against_hand_computation(model):
    pixels = torch.randn(1, 3, 64, 64)
    labels = torch.randint(0, 20, (1, 64, 64))
    depth = torch.zeros(1, 64, 64)
    depth[0, 10, 20] = 1.25
    with torch.no_grad():
        out = model(pixels, labels=labels, depth=depth)
    assert out.losses["segmentation"].item() == pytest.approx(
        F.cross_entropy(out.logits, labels).item(), rel=1e-6
    )
    assert out.losses["depth"].item() == pytest.approx(abs(out.depth[0, 10, 20].item() - 1.25), rel=1e-6)
    assert "ssl" not in out.losses  # in eval mode
    expected = model.config.segmentation_loss_weight * out.losses["segmentation"] + out.losses["depth"]
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_dataset_named_targets_are_refused_not_ignored(model):
    with pytest.raises(TypeError, match="segmentation.*labels="):
        model(torch.zeros(1, 3, 64, 64), segmentation=torch.zeros(1, 64, 64, dtype=torch.long))


def test_equivariance_loss_vanishes_for_the_identity_map():
    torch.manual_seed(0)
    still = SynthForgeForFaceAnalysis(
        SynthForgeConfig.tiny(ssl_max_rotation_degrees=0.0, ssl_max_translation=0.0)
    )
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = still.synthforge(pixels).features
        assert still.equivariance_loss(pixels, features).item() < 1e-10
        moving = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).eval()
        moving.load_state_dict(still.state_dict())
        assert moving.equivariance_loss(pixels, features, torch.Generator().manual_seed(1)).item() > 1e-4


@pytest.mark.parametrize("lean, first_in, second_out", [(False, [48, 24], [16, 8]), (True, [48, 16], [8, 8])])
def test_lean_up_blocks_narrow_before_upsampling(lean, first_in, second_out):
    # widths 8-16-32: the wide layout concatenates each level's own width with the coarser level's,
    # the lean one (the official bilinear UNet's) narrows each block to the next finer level's width first
    unet = UNet(3, [8, 16, 32], 5, norm_layer("batch", 1), lean_up_blocks=lean)
    convs = [[m for m in block if isinstance(m, torch.nn.Conv2d)] for block in unet.up]
    assert [c[0].in_channels for c in convs] == first_in and [c[1].out_channels for c in convs] == second_out
    assert [c[0].out_channels for c in convs] == [16, 8]
    assert unet(torch.randn(2, 3, 20, 28)).shape == (2, 5, 20, 28)


@pytest.mark.slow
def test_a_configuration_saved_before_lean_up_blocks_loads_the_wide_layout(tmp_path):
    torch.manual_seed(0)
    wide = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny(lean_up_blocks=False)).eval()
    wide.save_pretrained(tmp_path / "old")
    config_file = tmp_path / "old" / "config.json"
    saved = json.loads(config_file.read_text())
    del saved["lean_up_blocks"]
    config_file.write_text(json.dumps(saved))
    loaded = SynthForgeForFaceAnalysis.from_pretrained(tmp_path / "old").eval()
    assert loaded.config.lean_up_blocks is False
    pixels = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(pixels).logits, wide(pixels).logits)
    lean = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny())
    assert lean.config.lean_up_blocks is True and SynthForgeConfig().lean_up_blocks is True
    lean.save_pretrained(tmp_path / "new")
    assert SynthForgeForFaceAnalysis.from_pretrained(tmp_path / "new").config.lean_up_blocks is True


def test_save_and_load_with_auto_classes(model, tmp_path):
    model.save_pretrained(tmp_path)
    SynthForgeImageProcessor(size=64).save_pretrained(tmp_path)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), SynthForgeConfig)
    loaded = AutoModelForSemanticSegmentation.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, SynthForgeForFaceAnalysis)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    pixels = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(pixels).landmarks, model(pixels).landmarks)
    backbone = AutoModel.from_pretrained(tmp_path)
    assert isinstance(backbone, SynthForgeModel)
    with torch.no_grad():
        assert torch.equal(backbone(pixels).features, model.synthforge(pixels).features)
    processor = AutoImageProcessor.from_pretrained(tmp_path)
    assert isinstance(processor, SynthForgeImageProcessor) and processor.size == {"height": 64, "width": 64}


def test_processor_maps_outputs_back_to_the_original_image():
    processor = SynthForgeImageProcessor(size=64)
    image = np.zeros((100, 50, 3), dtype=np.uint8)  # tall: padded left and right by 25
    image[20:30, 10:20] = 255
    inputs = processor(Image.fromarray(image), return_tensors="pt")
    assert inputs["pixel_values"].shape == (1, 3, 64, 64)
    assert inputs["paddings"].tolist() == [[0, 25]] and inputs["original_sizes"].tolist() == [[100, 50]]
    # The bright square lands at (x + 25, y) * 0.64 in the model input.
    bright = inputs["pixel_values"][0, 0] > 0.5
    ys, xs = np.nonzero(bright.numpy())
    assert abs((xs.mean() + 0.5) / 0.64 - 25 - 15) < 1.0 and abs((ys.mean() + 0.5) / 0.64 - 25) < 1.0
    fake = SynthForgeFaceAnalysisOutput(
        landmarks=torch.tensor([[[(15 + 25) * 0.64, 25 * 0.64]]]),
        logits=torch.zeros(1, 20, 64, 64),
        depth=torch.ones(1, 64, 64),
    )
    points = processor.post_process_landmarks(fake, inputs["original_sizes"], inputs["paddings"])[0]
    np.testing.assert_allclose(points.numpy(), [[15.0, 25.0]], atol=1e-4)
    masks = processor.post_process_semantic_segmentation(fake, inputs["original_sizes"], inputs["paddings"])
    depth = processor.post_process_depth_estimation(fake, inputs["original_sizes"], inputs["paddings"])
    assert masks[0].shape == (100, 50) and depth[0]["predicted_depth"].shape == (100, 50)


def test_processor_accepts_grayscale_and_rgba_and_rejects_bad_shapes():
    processor = SynthForgeImageProcessor(size=32)
    gray = np.full((40, 40), 128, dtype=np.uint8)
    rgba = np.zeros((20, 30, 4), dtype=np.uint8)
    out = processor([gray, Image.fromarray(rgba, "RGBA")], return_tensors="pt")
    assert out["pixel_values"].shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="image"):
        processor(np.zeros((4, 4, 5), dtype=np.uint8), return_tensors="pt")


def _batch():
    pixels = torch.rand(2, 3, 32, 32)
    segmentation = torch.zeros(2, 32, 32, dtype=torch.long)
    segmentation[:, 5:10, 2:6] = CLASS_ID["left_eye_region"]
    landmarks = torch.rand(2, 68, 2) * 32
    return {
        "pixel_values": pixels,
        "segmentation": segmentation,
        "depth": torch.rand(2, 32, 32),
        "landmarks_2d": landmarks,
    }


def test_flip_swaps_sides_and_twice_is_identity():
    batch = _batch()
    flipped = horizontal_flip(batch, torch.tensor([True, False]))
    assert torch.equal(flipped["pixel_values"][1], batch["pixel_values"][1])
    assert (flipped["segmentation"][0, 5:10, 26:30] == CLASS_ID["right_eye_region"]).all()
    outer_right_eye, outer_left_eye = 36, 45
    assert LANDMARK_FLIP_PERMUTATION[outer_right_eye] == outer_left_eye
    assert flipped["landmarks_2d"][0, outer_left_eye, 0] == pytest.approx(
        32 - batch["landmarks_2d"][0, 36, 0].item()
    )
    twice = horizontal_flip(flipped, torch.tensor([True, False]))
    for key in batch:
        assert torch.allclose(twice[key], batch[key]), key


def test_affine_warp_moves_landmarks_with_the_image():
    size = 64
    points = torch.tensor([[[20.5, 30.5], [40.0, 12.0]]])
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    blobs = sum(torch.exp(-((xs - p[0]) ** 2 + (ys - p[1]) ** 2) / (2 * 1.5**2)) for p in points[0])
    batch = {"pixel_values": blobs[None, None].repeat(1, 3, 1, 1), "landmarks_2d": points}
    theta = affine_matrices(torch.tensor([0.4]), torch.tensor([1.2]), torch.tensor([[0.1, -0.05]]))
    warped = affine_warp(batch, theta)
    image = warped["pixel_values"][0, 0]
    for x, y in warped["landmarks_2d"][0].tolist():
        window = image * (((xs - x) ** 2 + (ys - y) ** 2) < 16)
        centre = ((window * xs).sum() / window.sum(), (window * ys).sum() / window.sum())
        assert abs(centre[0] - x) < 0.1 and abs(centre[1] - y) < 0.1


@pytest.mark.slow
def test_saved_folder_loads_with_remote_code_alone(model, tmp_path):
    """The folder carries its code (auto_map): it loads where synthforge_hf cannot be imported."""
    import json
    import os
    import subprocess
    import sys
    import textwrap

    model.save_pretrained(tmp_path / "sb")
    SynthForgeImageProcessor(size=64).save_pretrained(tmp_path / "sb")
    auto_map = json.loads((tmp_path / "sb" / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModelForSemanticSegmentation"] == "modeling_synthforge.SynthForgeForFaceAnalysis"
    pixels = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    torch.save(pixels, tmp_path / "pixels.pt")
    with torch.no_grad():
        expected = model(pixels).landmarks
    script = textwrap.dedent("""
        import sys
        sys.modules["synthforge_hf"] = None  # importing the package now fails
        import torch
        from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation
        model = AutoModelForSemanticSegmentation.from_pretrained("sb", trust_remote_code=True)
        processor = AutoImageProcessor.from_pretrained("sb", trust_remote_code=True)
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        assert processor.size == {"height": 64, "width": 64}
        with torch.no_grad():
            torch.save(model.eval()(torch.load("pixels.pt")).landmarks, "out.pt")
    """)
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=tmp_path)
    assert torch.equal(torch.load(tmp_path / "out.pt"), expected)


def test_an_lf_checkpoint_loads_whatever_memory_its_backbone_starts_in(model, tmp_path, monkeypatch):
    """The LF checkpoint holds only the head; until the SB is loaded into it, its backbone holds
    uninitialised memory, which can contain NaN: loading must not take that for a damaged file."""
    from transformers import PreTrainedModel

    from synthforge_hf.models.synthforge_lf import SynthForgeLabelFinetuneConfig, SynthForgeLabelFinetuneModel

    sb = tmp_path / "sb"
    model.save_pretrained(sb)
    lf_config = SynthForgeLabelFinetuneConfig(backbone=str(sb), backbone_config=model.config.to_dict())
    SynthForgeLabelFinetuneModel(lf_config, backbone=model).save_pretrained(tmp_path / "lf")
    loading = PreTrainedModel.from_pretrained.__func__

    def garbage_backbone(cls, *args, **kwargs):
        loaded, info = loading(cls, *args, **kwargs)
        if cls is SynthForgeLabelFinetuneModel:
            with torch.no_grad():
                for tensor in loaded.backbone.state_dict().values():
                    if tensor.is_floating_point():
                        tensor.fill_(float("nan"))
        return loaded, info

    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(garbage_backbone))
    lf = SynthForgeLabelFinetuneModel.from_pretrained(tmp_path / "lf")
    for name, tensor in lf.state_dict().items():
        assert torch.isfinite(tensor).all(), name  # the SB's own values replaced the garbage
        if name.startswith("backbone."):
            torch.testing.assert_close(tensor, model.state_dict()[name[len("backbone.") :]])


def _damage(folder, change) -> str:
    """Rewrite ``folder``'s safetensors with ``change(state) -> name of the tensor changed``."""
    from safetensors.torch import load_file, save_file

    state = load_file(folder / "model.safetensors")
    name = change(state)
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    return name


def _drop(state):
    name = sorted(state)[5]
    del state[name]
    return name


def _poison(state):
    name = sorted(n for n in state if n.endswith("weight"))[-1]
    state[name].view(-1)[0] = float("nan")
    return name


@pytest.mark.parametrize("change, words", [(_drop, "lacks 1 weight"), (_poison, "NaN or infinite")])
def test_a_damaged_checkpoint_is_refused_naming_the_folder(model, tmp_path, change, words):
    """transformers would fill a missing weight with random values (and load NaNs as they are), only
    logging it: the model would then predict noise. Loading refuses, through the SB's Auto class, an LF
    model on that SB, and the CLI (one line, in a fresh process)."""
    import subprocess
    import sys

    from synthforge_hf.models.synthforge.checked_loading import DamagedCheckpointError
    from synthforge_hf.models.synthforge_lf import SynthForgeLabelFinetuneConfig, SynthForgeLabelFinetuneModel

    sb = tmp_path / "sb"
    model.save_pretrained(sb)
    SynthForgeImageProcessor(size=64).save_pretrained(sb)
    lf_config = SynthForgeLabelFinetuneConfig(backbone=str(sb), backbone_config=model.config.to_dict())
    SynthForgeLabelFinetuneModel(lf_config, backbone=model).save_pretrained(tmp_path / "lf")
    assert SynthForgeLabelFinetuneModel.from_pretrained(tmp_path / "lf")  # intact: loads
    name = _damage(sb, change)
    with pytest.raises(DamagedCheckpointError, match=f"{sb}: .*{words}.*{re.escape(name)}"):
        AutoModelForSemanticSegmentation.from_pretrained(sb)
    with pytest.raises(DamagedCheckpointError, match=words):
        SynthForgeLabelFinetuneModel.from_pretrained(tmp_path / "lf")
    result = subprocess.run(
        [sys.executable, "-m", "synthforge_hf.cli", "evaluate", "--model", str(sb), "--benchmark", "300w"]
        + ["--data", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and result.stderr.strip().splitlines()[-1].startswith(
        "synthforge evaluate:"
    )
    assert words in result.stderr and "Traceback" not in result.stderr


def test_segmentation_loss_ignores_the_pixels_outside_the_image(model):
    """A wide photo padded to a square: the processor labels the padding 255, and the loss is the
    cross-entropy over the photo's own pixels only (computed by hand here)."""
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 64, 3), dtype=np.uint8))
    labels = np.random.default_rng(1).integers(0, 20, (32, 64))
    processor = SynthForgeImageProcessor(size=64)
    inputs = processor(photo, segmentation_maps=[labels], return_tensors="pt")
    assert (inputs["labels"] == 255).float().mean() == 0.5  # the top and bottom quarters are padding
    with torch.no_grad():
        out = model(inputs["pixel_values"], labels=inputs["labels"])
        logits = model(inputs["pixel_values"]).logits
    inside = inputs["labels"] != 255
    by_hand = F.cross_entropy(logits.permute(0, 2, 3, 1)[inside], inputs["labels"][inside])
    assert torch.isclose(out.losses["segmentation"], by_hand, atol=1e-5)
