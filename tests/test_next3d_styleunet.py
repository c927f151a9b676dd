"""StyleUNet (Next3D mouth and neural-blending networks): layout, condition injection, determinism."""

from __future__ import annotations

import pytest
import torch

from synthforge_hf.generators.next3d.ops import make_filter
from synthforge_hf.generators.next3d.styleunet import StyleUNetGenerator, downsample2d


def test_mouth_network_layout():
    with torch.device("meta"):
        mouth = StyleUNetGenerator(
            z_dim=512,
            c_dim=25,
            w_dim=512,
            img_resolution=256,
            img_channels=32,
            mapping_kwargs={"num_layers": 2},
            cond_channels=32,
            in_size=64,
            final_size=4,
            num_cond_res=64,
        )
    shapes = {name: tuple(t.shape) for name, t in mouth.state_dict().items()}
    assert shapes["synthesis.encoder.0.fromrgb.weight"] == (512, 32, 1, 1)
    assert shapes["synthesis.encoder.3.conv2.weight"] == (512, 512, 3, 3)
    assert (
        "synthesis.encoder.4.fromrgb.weight" not in shapes
        and "synthesis.encoder.0.fromrgb.bias" not in shapes
    )
    assert shapes["synthesis.fusion.0.weight"] == (512, 512, 3, 3)
    assert shapes["synthesis.fusion.4.weight"] == (512, 1024, 3, 3)
    assert shapes["synthesis.b256.torgb.weight"] == (32, 128, 1, 1) and "synthesis.b4.const" in shapes


def _small(seed=0):
    torch.manual_seed(seed)
    return StyleUNetGenerator(
        z_dim=8,
        c_dim=0,
        w_dim=8,
        img_resolution=32,
        img_channels=3,
        cond_channels=3,
        in_size=16,
        final_size=4,
        num_cond_res=16,
        channel_base=64,
        channel_max=16,
        mapping_kwargs={"num_layers": 1},
    ).eval()


@pytest.mark.slow
def test_condition_drives_the_output_and_unreached_layers_do_not():
    net = _small()
    condition, ws = torch.randn(2, 3, 16, 16), torch.randn(2, net.num_ws, 8)
    with torch.no_grad():
        image = net.synthesis(condition, ws, noise_mode="const")
        assert image.shape == (2, 3, 32, 32) and torch.equal(
            image, net.synthesis(condition, ws, noise_mode="const")
        )
        assert not torch.allclose(image, net.synthesis(torch.randn(2, 3, 16, 16), ws, noise_mode="const"))
        z = torch.randn(2, 8)
        mapped = net.synthesis(condition, net.mapping(z, None), noise_mode="const")
        assert torch.equal(net(z, None, condition, noise_mode="const"), mapped)
        net.synthesis.fusion[-1].weight.add_(1.0)  # the 16 px fusion: 16 is not below num_cond_res
        net.synthesis.b4.conv1.weight.add_(1.0)  # b4 is below the first block that runs (b8)
        assert torch.equal(image, net.synthesis(condition, ws, noise_mode="const"))
        net.synthesis.fusion[1].weight.add_(1.0)  # the 8 px fusion is used
        assert not torch.equal(image, net.synthesis(condition, ws, noise_mode="const"))


def test_downsample_keeps_constant_images():
    out = downsample2d(torch.full((1, 1, 8, 8), 2.0), make_filter([1, 3, 3, 1]))
    assert out.shape == (1, 1, 4, 4) and torch.allclose(out[:, :, 1:-1, 1:-1], torch.full((1, 1, 2, 2), 2.0))
