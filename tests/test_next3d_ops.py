"""Pure-PyTorch StyleGAN2 ops against independent references (scipy, explicit loops, invariants)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.signal import upfirdn

from synthforge_hf.generators.next3d.ops import (
    bias_act,
    conv2d_resample,
    make_filter,
    modulated_conv2d,
    upfirdn2d,
    upsample2d,
)


def test_bias_act_by_hand():
    x = torch.tensor([[-1.0, 2.0]])
    out = bias_act(x, torch.tensor([0.5, -0.5]), act="lrelu", clamp=1.5)
    np.testing.assert_allclose(out.numpy(), [[-0.5 * 0.2 * np.sqrt(2), 1.5]], rtol=1e-6)
    assert torch.equal(bias_act(x), x)


@pytest.mark.parametrize("up,down", [(1, 1), (2, 1), (1, 2), (2, 2), (4, 1)])
def test_upfirdn2d_matches_scipy_along_each_axis(up, down):
    taps = np.array([1.0, 3.0, 3.0, 1.0]) / 8
    rng = np.random.default_rng(0)
    image = rng.normal(size=(7, 9))
    f = torch.tensor(np.outer(taps, taps), dtype=torch.float64)
    pad = len(taps) - 1  # full convolution
    ours = upfirdn2d(torch.tensor(image)[None, None], f, up=up, down=down, padding=pad)[0, 0].numpy()
    rows = np.stack([upfirdn(taps, row, up, down) for row in image])
    expected = np.stack([upfirdn(taps, col, up, down) for col in rows.T]).T
    np.testing.assert_allclose(ours[: expected.shape[0], : expected.shape[1]], expected, atol=1e-12)


def test_upsample2d_keeps_constant_images_and_size():
    f = make_filter([1, 3, 3, 1])
    x = torch.full((1, 2, 8, 8), 3.0)
    y = upsample2d(x, f)
    assert y.shape == (1, 2, 16, 16)
    assert torch.allclose(y[:, :, 2:-2, 2:-2], torch.full_like(y[:, :, 2:-2, 2:-2], 3.0))


def test_conv2d_resample_paths():
    torch.manual_seed(0)
    x, w = torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3)
    assert torch.allclose(conv2d_resample(x, w, padding=1), F.conv2d(x, w, padding=1))
    assert torch.allclose(
        conv2d_resample(x, w.flip([2, 3]), padding=1, flip_weight=False), F.conv2d(x, w, padding=1)
    )
    f = make_filter([1, 3, 3, 1])
    up = conv2d_resample(x, w, f=f, up=2, padding=1)
    assert up.shape == (2, 4, 16, 16)
    identity = torch.zeros(3, 3, 3, 3)
    identity[[0, 1, 2], [0, 1, 2], 1, 1] = 1.0
    flat = conv2d_resample(torch.ones(1, 3, 8, 8), identity, f=f, up=2, padding=1)
    assert torch.allclose(flat[:, :, 3:-3, 3:-3], torch.ones_like(flat[:, :, 3:-3, 3:-3]), atol=1e-6)
    assert conv2d_resample(x, w, f=f, down=2, padding=1).shape == (2, 4, 4, 4)


def test_modulated_conv2d_equals_a_per_sample_convolution():
    torch.manual_seed(0)
    x, weight, styles = torch.randn(3, 4, 6, 6), torch.randn(5, 4, 3, 3), torch.randn(3, 4)
    out = modulated_conv2d(x, weight, styles, padding=1)
    for b in range(3):
        w = weight * styles[b].reshape(1, -1, 1, 1)
        w = w / (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        torch.testing.assert_close(out[b : b + 1], F.conv2d(x[b : b + 1], w, padding=1), atol=1e-5, rtol=1e-5)
    plain = modulated_conv2d(x, weight, styles, padding=1, demodulate=False)
    torch.testing.assert_close(
        plain[1:2], F.conv2d(x[1:2], weight * styles[1].reshape(1, -1, 1, 1), padding=1), atol=1e-5, rtol=1e-5
    )
