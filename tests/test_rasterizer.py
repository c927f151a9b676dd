import math

import pytest
import torch

from synthforge_hf.rendering.cameras import Cameras, head_to_world
from synthforge_hf.rendering.open3d_backend import Open3DRasterizer
from synthforge_hf.rendering.pytorch3d_backend import PyTorch3DRasterizer
from synthforge_hf.rendering.rasterizer import get_rasterizer
from synthforge_hf.rendering.zbuffer import ZBufferRasterizer

from .meshes import quad, uv_sphere

# The backends that are fast on CPU (PyTorch3D is compared with Open3D below).
FAST_BACKENDS = [Open3DRasterizer, ZBufferRasterizer]


def test_backend_choice_follows_the_device():
    assert get_rasterizer("auto", "cpu").name == "zbuffer"
    assert get_rasterizer("open3d", "cuda").name == "open3d"
    assert get_rasterizer("auto", "cuda").name == "pytorch3d"
    assert get_rasterizer("pytorch3d", "cpu").name == "pytorch3d"
    with pytest.raises(ValueError, match="unknown rasterizer"):
        get_rasterizer("opengl")


@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_depth_of_a_frontal_plane_is_its_distance(backend, torch_device):
    verts, faces = (t.to(torch_device) for t in quad(z=0.5, half_size=2.0))
    cams = Cameras.orbit(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([20.0])).to(torch_device)
    frags = backend().rasterize(verts[None], faces, cams, 32)
    assert frags.depth.device == frags.face_index.device == verts.device and frags.foreground.all()
    # Camera at z = 2.9 looking down -z: the plane z = 0.5 is 2.4 away along the axis, at every pixel.
    assert torch.allclose(frags.depth, torch.full_like(frags.depth, 2.4), atol=1e-5)
    assert torch.allclose(frags.barycentric.sum(-1), torch.ones_like(frags.depth), atol=1e-5)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_sphere_silhouette_area_matches_projection(backend):
    radius, resolution = 0.2, 128
    verts, faces = uv_sphere(radius, rings=48, segments=96, center=(0.0, 0.0, 0.2))
    cams = Cameras.orbit(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([20.0]))
    frags = backend().rasterize(verts[None], faces, cams, resolution)
    f = cams.intrinsics[0, 0, 0].item() * resolution
    # A sphere at distance d projects to a disc of radius f * r / sqrt(d^2 - r^2) (tangent cone).
    disc = f * radius / math.sqrt(2.7**2 - radius**2)
    assert frags.foreground.sum().item() == pytest.approx(math.pi * disc**2, rel=0.02)
    nearest = frags.depth[frags.foreground].min().item()
    assert nearest == pytest.approx(2.7 - radius, abs=2e-3)


@pytest.mark.parametrize("yaw,pitch", [(0.0, 0.0), (0.6, -0.3), (-0.7, 0.5)])
def test_open3d_and_pytorch3d_agree_pixel_for_pixel_on_flame(flame_template, yaw, pitch, torch_device):
    verts = torch.from_numpy(flame_template.vertices) - torch.tensor([0.0, 1.5, 0.0])
    faces = torch.from_numpy(flame_template.faces).to(torch_device)
    world = head_to_world(verts)[None].to(torch_device)
    cams = Cameras.orbit(torch.tensor([yaw]), torch.tensor([pitch]), torch.tensor([18.0])).to(torch_device)
    a = Open3DRasterizer().rasterize(world, faces, cams, 64)
    b = PyTorch3DRasterizer().rasterize(world, faces, cams, 64)
    assert a.foreground.sum() > 500
    assert torch.equal(a.foreground, b.foreground)
    assert torch.allclose(a.depth, b.depth, atol=1e-4)
    # The same triangle at every pixel, except where the ray hits an edge two triangles share
    # (a tie either backend may break): there both hit the same surface point.
    on_edge = (a.barycentric.min(-1).values < 1e-3) | (b.barycentric.min(-1).values < 1e-3)
    differs = a.face_index != b.face_index
    assert not (differs & ~on_edge).any()
    same = a.foreground & ~differs
    assert torch.allclose(a.barycentric[same], b.barycentric[same], atol=1e-3)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_interpolate_reproduces_a_linear_function_of_position(backend):
    verts, faces = uv_sphere(0.5, center=(0.0, 0.0, 0.2))
    cams = Cameras.orbit(torch.tensor([0.2]), torch.tensor([0.1]), torch.tensor([20.0]))
    frags = backend().rasterize(verts[None], faces, cams, 48)
    values = verts @ torch.tensor([[1.0], [2.0], [-1.0]])  # a linear function is interpolated exactly
    interpolated = frags.interpolate(values, faces)[..., 0]
    dirs = cams.ray_directions(48)[0]
    points = cams.centers[0] + frags.depth[0, ..., None] * dirs
    expected = points @ torch.tensor([1.0, 2.0, -1.0])
    fg = frags.foreground[0]
    assert torch.allclose(interpolated[0][fg], expected[fg], atol=1e-4)
    assert (interpolated[0][~fg] == 0).all()


@pytest.mark.parametrize("backend", [Open3DRasterizer, PyTorch3DRasterizer, ZBufferRasterizer])
@pytest.mark.slow
def test_backface_culling_is_exact_on_the_watertight_default_head(backend, torch_device):
    from synthforge_hf.head.default_head import build_default_head

    head = build_default_head().to(torch_device)
    assert head.config.watertight
    world = head_to_world(head(batch_size=3).vertices)
    cams = Cameras.orbit(
        torch.tensor([0.0, 0.7, -0.4]), torch.tensor([0.0, 0.3, -0.6]), torch.full((3,), 18.0)
    ).to(torch_device)
    full = backend().rasterize(world, head.faces, cams, 48)
    culled = backend().rasterize(world, head.faces, cams, 48, cull_backfaces=True)
    assert torch.equal(full.face_index, culled.face_index)
    assert torch.allclose(full.depth, culled.depth) and torch.allclose(full.barycentric, culled.barycentric)
