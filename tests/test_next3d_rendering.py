"""Tri-plane sampling, decoder and Mip-NeRF compositing, checked by hand."""

from __future__ import annotations

import math

import pytest
import torch

from synthforge_hf.generators.next3d.rendering import (
    OSGDecoder,
    mip_composite,
    project_onto_planes,
    sample_from_planes,
)


def test_projection_keeps_the_official_coordinate_pairs():
    point = torch.tensor([[[0.1, 0.2, 0.3]]])
    projected = project_onto_planes(point).reshape(3, 2)
    torch.testing.assert_close(projected, torch.tensor([[0.1, 0.2], [0.1, 0.3], [0.3, 0.1]]))


def test_sampling_a_ramp_returns_the_coordinate():
    size = 16
    ramp = (torch.arange(size) + 0.5) / size * 2 - 1  # texel centres, align_corners=False
    planes = ramp.expand(size, size)[None, None, None].repeat(1, 3, 1, 1, 1)  # value = u (horizontal)
    points = torch.tensor([[[0.2, -0.4, 0.6], [-0.5, 0.1, 0.25]]])
    features = sample_from_planes(planes, points, box_warp=2.0)  # the cube [-1, 1]^3 spans the planes
    torch.testing.assert_close(features[0, :, :, 0], torch.tensor([[0.2, -0.5], [0.2, -0.5], [0.6, 0.25]]))
    halved = sample_from_planes(planes, points * 0.5, box_warp=1.0)
    torch.testing.assert_close(halved, features)


def test_decoder_layout_and_colour_range():
    decoder = OSGDecoder()
    shapes = {name: tuple(t.shape) for name, t in decoder.state_dict().items()}
    assert shapes == {
        "net.0.weight": (64, 32),
        "net.0.bias": (64,),
        "net.2.weight": (33, 64),
        "net.2.bias": (33,),
    }
    out = decoder(torch.randn(2, 3, 5, 32) * 100)
    assert out["rgb"].shape == (2, 5, 32) and out["sigma"].shape == (2, 5, 1)
    assert out["rgb"].min() >= -0.001 and out["rgb"].max() <= 1.001


def test_compositing_by_hand():
    depths = torch.tensor([2.0, 2.5, 3.0])[None, None, :, None]
    colors = torch.tensor([[0.2], [0.4], [0.6]])[None, None]
    sigma = torch.full((1, 1, 3, 1), 1 + math.log(math.e - 1))  # softplus(sigma - 1) = 1
    rgb, depth, weights = mip_composite(colors, sigma, depths)
    a = 1 - math.exp(-0.5)  # alpha of each 0.5-long interval at density 1
    w0, w1 = a, a * (1 - a + 1e-10)
    assert weights.flatten().tolist() == pytest.approx([w0, w1], rel=1e-5)
    assert rgb.item() == pytest.approx((w0 * 0.3 + w1 * 0.5) * 2 - 1, rel=1e-5)
    assert depth.item() == pytest.approx((w0 * 2.25 + w1 * 2.75) / (w0 + w1), rel=1e-5)
    empty = torch.full((1, 1, 3, 1), -1e4)
    rgb, depth, _ = mip_composite(colors, empty, depths, white_back=True)
    assert rgb.item() == pytest.approx(1.0) and depth.item() == 3.0  # white, farthest depth
