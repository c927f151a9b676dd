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
    torch.testing.assert_close(projected, torch.tensor([[0.1, 0.2], [0.1, 0.3], [0.3, 0.2]]))


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


def test_stratified_depths_stay_in_their_strata():
    from synthforge_hf.generators.next3d.rendering import stratified_depths

    depths = stratified_depths(2, 5, 2.25, 3.3, 48, torch.Generator().manual_seed(0))
    step = (3.3 - 2.25) / 47
    lower = 2.25 + torch.arange(48) * step
    assert ((depths[..., 0] >= lower - 1e-6) & (depths[..., 0] <= lower + step + 1e-6)).all()


def test_pdf_sampling_follows_the_weights():
    from synthforge_hf.generators.next3d.rendering import sample_pdf

    bins = torch.linspace(0, 1, 5)[None]  # 4 bins
    even = sample_pdf(bins, torch.ones(1, 4), 9)
    torch.testing.assert_close(even, torch.linspace(0, 1, 9)[None], atol=1e-4, rtol=0)
    u = torch.rand(1, 50, generator=torch.Generator().manual_seed(0))
    peaked = sample_pdf(bins, torch.tensor([[0.0, 0.0, 1.0, 0.0]]), 50, u)
    assert ((peaked >= 0.5 - 1e-3) & (peaked <= 0.75 + 1e-3)).float().mean() > 0.99


def _scene(batch: int, rays: int, spread: float):
    """Random tri-planes and decoder, and rays from z = 2.7 towards the origin, jittered by ``spread``."""
    torch.manual_seed(0)
    decoder, planes = OSGDecoder(), torch.randn(batch, 3, 32, 8, 8)
    origins = torch.tensor([[[0.0, 0.0, 2.7]]]).repeat(batch, rays, 1)
    directions = torch.nn.functional.normalize(
        torch.tensor([[[0.0, 0.0, -1.0]]]) + spread * torch.randn(batch, rays, 3), dim=-1
    )
    return planes, decoder, origins, directions


def test_render_triplanes_is_seeded_and_sane():
    from synthforge_hf.generators.next3d.rendering import render_triplanes

    planes, decoder, origins, directions = _scene(batch=1, rays=4, spread=0.05)
    args = (planes, decoder, origins, directions, 2.25, 3.3, 12, 12, 1.0)
    with torch.no_grad():
        first = render_triplanes(*args, generator=torch.Generator().manual_seed(3))
        again = render_triplanes(*args, generator=torch.Generator().manual_seed(3))
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a, b)
    rgb, depth, weight, points, sigma = first
    assert rgb.shape == (1, 4, 32) and depth.shape == (1, 4, 1) and weight.shape == (1, 4, 1)
    assert points.shape == (1, 4 * 12, 3) and sigma.shape == (1, 4 * 12, 1)
    # the coarse points lie on the rays, between ray_start and ray_end
    along = ((points.reshape(1, 4, 12, 3) - origins[:, :, None]) * directions[:, :, None]).sum(-1)
    assert (along >= 2.25 - 1e-5).all() and (along <= 3.3 + (3.3 - 2.25) / 11 + 1e-5).all()  # jitter < 1 step
    assert (
        (weight >= 0).all() and (weight <= 1 + 1e-5).all() and (depth >= 2.25).all() and (depth <= 3.4).all()
    )


def test_chunked_rendering_equals_one_pass():
    from synthforge_hf.generators.next3d.rendering import render_triplanes

    planes, decoder, origins, directions = _scene(batch=2, rays=10, spread=0.1)
    args = (planes, decoder, origins, directions, 2.25, 3.3, 6, 5, 1.0)
    generators = lambda: [torch.Generator().manual_seed(s) for s in (1, 2)]  # noqa: E731
    with torch.no_grad():
        whole = render_triplanes(*args, generator=generators())
        chunked = render_triplanes(*args, generator=generators(), chunk_size=3)
    for a, b in zip(whole, chunked, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
