"""The PyTorch z-buffer (the CPU default) against closed forms, exact float64 ray-triangle intersections
and a straightforward Open3D ray cast of every pixel; the annotator's pieces; the orthographic views."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthforge_hf.pipelines.synthforge import SynthForgePipeline
from synthforge_hf.rendering.annotator import Annotations, FaceAnnotator
from synthforge_hf.rendering.cameras import Cameras
from synthforge_hf.rendering.facing import facing_view
from synthforge_hf.rendering.open3d_backend import Open3DRasterizer
from synthforge_hf.rendering.zbuffer import ZBufferRasterizer, rasterize_screen

from .meshes import quad

SEEDS = [3, 17, 101, 4242]


@pytest.fixture(scope="module")
def posed(torch_device):
    """The default head posed and framed as the pipeline samples it, for a few seeds."""
    pipe = SynthForgePipeline.from_default_head().to(torch_device)
    params, _ = pipe.sample(SEEDS)
    with torch.no_grad():
        cameras, head_output = pipe.pose(params, slice(0, len(SEEDS)))
        vertices = pipe.face_generator.head_to_world(head_output.vertices).float()
        landmarks = pipe.face_generator.head_to_world(head_output.landmarks_3d).float()
    return pipe.head_model, vertices, landmarks, cameras


def _full_image_ray_cast(vertices: torch.Tensor, faces: torch.Tensor, cameras: Cameras, resolution: int):
    """Nearest hit of one ray per pixel centre against all faces, with Open3D directly: face (B,R,R),
    -1 on background, and depth (B,R,R)."""
    import open3d as o3d

    directions = cameras.ray_directions(resolution).cpu().numpy().reshape(len(cameras), -1, 3)
    face_index, depth = [], []
    for b in range(len(cameras)):
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(
            o3d.core.Tensor(vertices[b].cpu().numpy()), o3d.core.Tensor(faces.cpu().numpy().astype(np.uint32))
        )
        origin = np.broadcast_to(cameras.centers[b].cpu().numpy(), directions[b].shape)
        hits = scene.cast_rays(o3d.core.Tensor(np.concatenate([origin, directions[b]], 1).astype(np.float32)))
        hit = np.isfinite(hits["t_hit"].numpy())
        face_index.append(np.where(hit, hits["primitive_ids"].numpy().astype(np.int64), -1))
        depth.append(np.where(hit, hits["t_hit"].numpy(), 0.0))
    shape = (len(cameras), resolution, resolution)
    return torch.from_numpy(np.stack(face_index)).view(shape), torch.from_numpy(np.stack(depth)).view(shape)


def _exact_hits(vertices, faces, cameras, resolution, frags):
    """Float64 ray-triangle intersection (Moller-Trumbore) of each foreground pixel's ray with the face
    the fragments name: barycentrics (N,3) and ray parameter = depth (N,)."""
    sample, row, col = frags.foreground.nonzero().unbind(1)
    corners = vertices.double()[sample[:, None], faces[frags.face_index[sample, row, col]]]
    direction = cameras.ray_directions(resolution).double()[sample, row, col]
    origin = cameras.centers.double()[sample]
    edge1, edge2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    p = torch.linalg.cross(direction, edge2)
    det = (edge1 * p).sum(-1)
    offset = origin - corners[:, 0]
    u = (offset * p).sum(-1) / det
    q = torch.linalg.cross(offset, edge1)
    v = (direction * q).sum(-1) / det
    return torch.stack([1 - u - v, u, v], -1), (edge2 * q).sum(-1) / det


@pytest.mark.parametrize("resolution", [64, 160])
def test_the_default_head_matches_a_full_image_ray_cast(posed, resolution):
    head, vertices, _, cameras = posed
    frags = ZBufferRasterizer().rasterize(vertices, head.faces, cameras, resolution, cull_backfaces=True)
    face_index, depth = _full_image_ray_cast(vertices, head.faces, cameras, resolution)
    frags_face = frags.face_index.cpu()
    assert torch.equal(frags.foreground.cpu(), face_index >= 0)
    assert frags.foreground.float().mean() > 0.2
    # The same face except where the ray meets an edge (both faces then hold the same surface point).
    barycentric, exact_depth = _exact_hits(vertices, head.faces, cameras, resolution, frags)
    differs = (frags_face != face_index)[frags.foreground.cpu()]
    assert differs.float().mean() < 1e-3
    assert (barycentric[differs.to(barycentric.device)].min(-1).values < 1e-3).all()
    assert torch.allclose(frags.depth.cpu(), depth.float(), atol=2e-4)  # world units: 80 um
    # Perspective-correct barycentrics and depth of each pixel's own face, against float64.
    assert (frags.barycentric[frags.foreground].double() - barycentric).abs().max() < 5e-3
    assert (frags.depth[frags.foreground].double() - exact_depth).abs().max() < 1e-4


def test_the_fast_path_gives_the_labels_of_the_ray_cast(posed):
    """The annotator's default (the z-buffer, in pieces of the batch) against Open3D's ray cast."""
    head, vertices, landmarks, cameras = posed
    fast = FaceAnnotator(rasterizer="zbuffer")(head, vertices, landmarks, cameras, 128)
    cast = FaceAnnotator(rasterizer="open3d")(head, vertices, landmarks, cameras, 128)
    assert torch.equal(fast.segmentation, cast.segmentation)
    assert torch.equal(fast.landmarks_2d, cast.landmarks_2d) and torch.equal(
        fast.landmarks_3d, cast.landmarks_3d
    )
    assert torch.equal(fast.landmark_visibility, cast.landmark_visibility)
    assert fast.landmark_visibility.float().mean() > 0.5
    assert torch.allclose(fast.depth, cast.depth, atol=5e-4)  # metres


def test_pieces_of_a_batch_are_annotated_as_the_whole(posed):
    head, vertices, landmarks, cameras = posed
    annotator = FaceAnnotator(rasterizer="zbuffer")
    whole = annotator._annotate(head, vertices, landmarks, cameras, 48)
    pieces = [
        annotator._annotate(head, vertices[r], landmarks[r], cameras[r], 48)
        for r in (slice(0, 1), slice(1, 4))
    ]
    joined = Annotations.concatenate(pieces)
    for name in ("segmentation", "depth", "landmarks_2d", "landmark_visibility"):
        assert torch.equal(getattr(joined, name), getattr(whole, name))
    assert torch.equal(joined.fragments.barycentric, whole.fragments.barycentric)


def test_pixel_centres_on_edges_and_vertices_go_to_exactly_one_triangle():
    """A grid whose vertices and edges (horizontal, vertical and both diagonals) pass exactly through pixel
    centres: every tie must be broken the same way by all the triangles involved. Counting the pixels that
    each triangle alone covers, every centre inside the grid is covered once; the grid's right and bottom
    borders go to the outside, as a step to the right and down leaves the grid there."""
    n = 8
    ys, xs = torch.meshgrid(torch.arange(n + 1.0), torch.arange(n + 1.0), indexing="ij")
    points = torch.stack([2 * xs + 0.5, 2 * ys + 0.5, torch.ones_like(xs)], -1).view(1, -1, 3)
    faces = []
    for i in range(n):
        for j in range(n):
            a, b, c, d = (
                i * (n + 1) + j,
                i * (n + 1) + j + 1,
                (i + 1) * (n + 1) + j,
                (i + 1) * (n + 1) + j + 1,
            )
            faces += [(a, b, d), (a, d, c)] if (i + j) % 2 else [(a, b, c), (b, d, c)]
    faces = torch.tensor(faces)
    resolution = 2 * n + 2
    count = sum(
        rasterize_screen(points, faces[f : f + 1], resolution, perspective=False).foreground[0].long()
        for f in range(len(faces))
    )
    expected = torch.zeros(resolution, resolution, dtype=torch.long)
    expected[: 2 * n, : 2 * n] = 1
    assert torch.equal(count, expected)
    # Together, each pixel's triangle holds its centre: the barycentrics give the centre back.
    frags = rasterize_screen(points, faces, resolution, perspective=False)
    corners = points[0, :, :2][faces[frags.face_index[0, : 2 * n, : 2 * n]]]  # (2n,2n,3,2)
    back = (frags.barycentric[0, : 2 * n, : 2 * n, :, None] * corners).sum(-2)
    centres = torch.stack(
        torch.meshgrid(torch.arange(2 * n) + 0.5, torch.arange(2 * n) + 0.5, indexing="xy"), -1
    )
    torch.testing.assert_close(back, centres, atol=1e-5, rtol=0)


def test_a_vertex_behind_the_camera_is_ray_cast():
    verts, faces = quad(z=0.5, half_size=2.0)
    verts = torch.cat([verts, torch.tensor([[0.0, 0.0, 4.0], [0.1, 0.0, 4.0], [0.0, 0.1, 4.0]])])
    faces = torch.cat([faces, torch.tensor([[4, 5, 6]])])
    cams = Cameras.orbit(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([20.0]))  # at z = 2.9
    frags = ZBufferRasterizer().rasterize(verts[None], faces, cams, 32)
    expected = Open3DRasterizer().rasterize(verts[None], faces, cams, 32)
    assert torch.equal(frags.face_index, expected.face_index)
    assert torch.equal(frags.depth, expected.depth)


def test_orthographic_views_match_the_ray_cast(posed):
    """Rays parallel to +depth through the plane's pixel centres, faces turned to the view kept."""
    head, vertices, _, _ = posed
    points = (vertices - vertices.mean(1, keepdim=True)) * torch.tensor(
        [2.5, -2.5, -1.0], device=vertices.device
    )
    a = ZBufferRasterizer().rasterize_orthographic(points, head.faces, 96)
    b = Open3DRasterizer().rasterize_orthographic(points, head.faces, 96)
    assert torch.equal(a.foreground, b.foreground) and a.foreground.float().mean() > 0.2
    same = a.face_index == b.face_index
    assert same.float().mean() > 0.999
    kept = facing_view(points, head.faces)
    hit = a.face_index[a.foreground]
    sample = a.foreground.nonzero()[:, 0]
    assert kept[sample, hit].all()
    torch.testing.assert_close(a.depth, b.depth, atol=1e-4, rtol=0)
    torch.testing.assert_close(a.barycentric[same], b.barycentric[same], atol=1e-2, rtol=0)
