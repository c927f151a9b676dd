"""StyleGAN2 networks of the Next3D backbones: official names and shapes, and deterministic forwards."""

from __future__ import annotations

import torch

from synthforge_hf.generators.next3d.stylegan2 import StyleGAN2Generator

NEXT3D = dict(
    z_dim=512,
    c_dim=25,
    w_dim=512,
    img_resolution=256,
    mapping_kwargs={"num_layers": 2},
    channel_base=32768,
    channel_max=512,
)


def test_texture_and_triplane_backbones_have_the_official_layout():
    with torch.device("meta"):
        texture = StyleGAN2Generator(img_channels=32, **NEXT3D)
        triplane = StyleGAN2Generator(img_channels=96, mapping_ws=28, **NEXT3D)
    assert texture.num_ws == 14 and triplane.mapping.num_ws == 28
    shapes = {name: tuple(t.shape) for name, t in texture.state_dict().items()}
    expected = {
        "mapping.embed.weight": (512, 25),
        "mapping.fc0.weight": (512, 1024),
        "mapping.fc1.bias": (512,),
        "mapping.w_avg": (512,),
        "synthesis.b4.const": (512, 4, 4),
        "synthesis.b4.conv1.affine.weight": (512, 512),
        "synthesis.b4.conv1.noise_const": (4, 4),
        "synthesis.b4.conv1.noise_strength": (),
        "synthesis.b8.resample_filter": (4, 4),
        "synthesis.b64.conv0.weight": (512, 512, 3, 3),
        "synthesis.b128.conv0.weight": (256, 512, 3, 3),
        "synthesis.b256.conv0.weight": (128, 256, 3, 3),
        "synthesis.b256.conv1.noise_const": (256, 256),
        "synthesis.b256.torgb.weight": (32, 128, 1, 1),
        "synthesis.b256.torgb.affine.bias": (128,),
    }
    for name, shape in expected.items():
        assert shapes[name] == shape, name
    assert "synthesis.b4.conv0.weight" not in shapes and "mapping.fc2.weight" not in shapes
    assert {name for name in shapes if name.endswith("torgb.weight")} == {
        f"synthesis.b{2**i}.torgb.weight" for i in range(2, 9)
    }
    triplane_shapes = {name: tuple(t.shape) for name, t in triplane.state_dict().items()}
    assert triplane_shapes["synthesis.b256.torgb.weight"] == (96, 128, 1, 1)


def _tiny(seed=0):
    torch.manual_seed(seed)
    return StyleGAN2Generator(
        z_dim=8,
        c_dim=4,
        w_dim=8,
        img_resolution=16,
        img_channels=3,
        mapping_kwargs={"num_layers": 2},
        channel_base=64,
        channel_max=16,
    ).eval()


def test_forward_is_deterministic_and_truncation_reaches_w_avg():
    g = _tiny()
    z, c = torch.randn(2, 8), torch.randn(2, 4)
    with torch.no_grad():
        g.mapping.w_avg.copy_(torch.randn(8))
        a = g(z, c)
        assert a.shape == (2, 3, 16, 16) and torch.equal(a, g(z, c))
        first = g(z, c, noise_mode="random", generator=torch.Generator().manual_seed(1))
        again = g(z, c, noise_mode="random", generator=torch.Generator().manual_seed(1))
        assert torch.equal(first, again)
        g.synthesis.b16.conv1.noise_strength.fill_(0.5)
        other = g(z, c, noise_mode="random", generator=torch.Generator().manual_seed(2))
        assert not torch.equal(
            g(z, c, noise_mode="random", generator=torch.Generator().manual_seed(1)), other
        )
        collapsed = g(torch.randn(2, 8), torch.randn(2, 4), truncation_psi=0.0)
        assert torch.allclose(collapsed[0], collapsed[1])  # every sample is the average w's image
        ws = g.mapping(z, c, truncation_psi=0.5, truncation_cutoff=2)
        full = g.mapping(z, c)
        assert torch.allclose(ws[:, 2:], full[:, 2:])
        assert torch.allclose(ws[:, :2], g.mapping.w_avg.lerp(full[:, :2], 0.5))


def test_state_dict_round_trip_is_strict():
    source, target = _tiny(0), _tiny(1)
    target.load_state_dict(source.state_dict(), strict=True)
    z, c = torch.randn(1, 8), torch.randn(1, 4)
    with torch.no_grad():
        assert torch.equal(source(z, c), target(z, c))
