"""Next3D super-resolution: official layout and a seeded forward to 512 px."""

from __future__ import annotations

import pytest
import torch

from synthforge_hf.generators.next3d.superresolution import SuperresolutionHybrid8XDC


@pytest.mark.slow
def test_layout_and_forward():
    torch.manual_seed(0)
    sr = SuperresolutionHybrid8XDC(channels=32, sr_num_fp16_res=4).eval()
    shapes = {name: tuple(t.shape) for name, t in sr.state_dict().items()}
    assert shapes["block0.conv0.weight"] == (256, 32, 3, 3) and shapes["block0.conv0.affine.weight"] == (
        32,
        512,
    )
    assert shapes["block1.conv1.weight"] == (128, 128, 3, 3) and shapes["block1.torgb.weight"] == (
        3,
        128,
        1,
        1,
    )
    assert shapes["block1.conv1.noise_const"] == (512, 512) and "block0.const" not in shapes
    rgb, features, ws = torch.randn(1, 3, 64, 64), torch.randn(1, 32, 64, 64), torch.randn(1, 14, 512)
    with torch.no_grad():
        image = sr(rgb, features, ws, noise_mode="none")
        assert image.shape == (1, 3, 512, 512) and torch.equal(
            image, sr(rgb, features, ws, noise_mode="none")
        )
        other = ws.clone()
        other[:, :-1] = torch.randn(1, 13, 512)  # only the last w styles the super-resolution
        assert torch.equal(image, sr(rgb, features, other, noise_mode="none"))
