"""Rasterization with a z-buffer in PyTorch: each triangle is tested at the pixel centres of its bounding box.

Triangles are grouped by the size of their pixel box (each side rounded up to one of `_TILE_SIZES`), so each
group is one dense tensor computation over (rows, columns, triangles), without a loop over triangles or
pixels; the nearest surface wins through a `scatter_reduce` of (depth bits, face id) keys per group.
Coverage uses edge functions that the two triangles sharing an edge evaluate the same way, bit for bit (each
edge from its lower vertex id), and a pixel centre exactly on edges or vertices is decided as if it lay an
infinitesimal step to the right (and a far smaller step down): no cracks between triangles and no pixel
covered twice by one surface. The nearest triangle wins, the smallest face id on an exact tie.
Barycentrics and depth at the winners come from per-triangle planes. The same code runs on CPU and CUDA.
"""

from __future__ import annotations

import torch

from .cameras import Cameras
from .fragments import Fragments
from .parallel import parallel_map, split

_LOW_BITS = 0xFFFFFFFF
_MAX_FACE_ID = 2**31 - 1
_BACKGROUND = torch.iinfo(torch.int64).min
# Tile sides: each triangle is tested at the pixels of the smallest tile that holds its box.
_TILE_SIZES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
# Rows of the per-triangle table: three edges (sign, start x, start y, dx, dy, threshold), the nearness
# plane (value at corner 0 and its x, y gradient), corner 0 (x, y) and the pixel box (low x, low y, high x,
# high y).
_EDGE, _NEAR, _CORNER, _BOX = 0, 18, 21, 23


def rasterize_screen(
    screen: torch.Tensor,
    faces: torch.Tensor,
    resolution: int,
    facing: int = 0,
    perspective: bool = True,
) -> Fragments:
    """Fragments of triangles given in screen space.

    ``screen`` (B,V,3): pixel x and y (pixel centres at i + 0.5) and depth: camera z (> 0) when
    ``perspective`` (barycentrics and depth are then perspective-correct), otherwise a depth that is
    interpolated linearly; smaller is nearer either way. ``facing`` +1 or -1 keeps only the faces whose
    signed area in (x, y) has that sign (0 keeps all); faces of zero area cover nothing."""
    batch, num_vertices = screen.shape[:2]
    num_faces = faces.shape[0]
    if num_faces > _MAX_FACE_ID or resolution > _TILE_SIZES[-1]:
        raise ValueError(f"at most {_MAX_FACE_ID} faces and {_TILE_SIZES[-1]} pixels a side")
    device = screen.device
    vertex_ids = (faces.reshape(1, -1) + torch.arange(batch, device=device)[:, None] * num_vertices).reshape(
        -1
    )
    corners = screen.float().reshape(-1, 3).index_select(0, vertex_ids).view(-1, 9).T.contiguous()  # (9,B*F)
    x, y = corners[0::3], corners[1::3]
    area = (x[1] - x[0]) * (y[2] - y[0]) - (y[1] - y[0]) * (x[2] - x[0])
    box = [*_pixel_span(x, resolution), *_pixel_span(y, resolution)]  # low x, high x, low y, high y
    used = (area * facing > 0) if facing else (area != 0)
    triangle = (used & (box[1] >= box[0]) & (box[3] >= box[2])).nonzero()[:, 0]  # b * F + face
    # Sort the triangles by tile: width and height of their box rounded up to the next of _TILE_SIZES.
    low_x, high_x, low_y, high_y = (t.index_select(0, triangle) for t in box)
    tile_of = torch.searchsorted(
        torch.tensor(_TILE_SIZES, device=device), torch.arange(resolution + 1, device=device)
    )
    tile = tile_of.index_select(0, high_x - low_x + 1) * len(_TILE_SIZES) + tile_of.index_select(
        0, high_y - low_y + 1
    )
    tile, order = torch.sort(tile.to(torch.int16), stable=True)  # small keys: a fast radix sort
    triangle = triangle.index_select(0, order)
    box = torch.stack([low_x, low_y, high_x, high_y]).index_select(1, order).to(corners.dtype)
    corners = corners.index_select(1, triangle).contiguous()  # (9,K)
    area = area.index_select(0, triangle)
    face = triangle % num_faces
    table = _table(corners, area, faces.index_select(0, face), box, perspective)

    best = torch.full((batch * resolution * resolution,), _BACKGROUND, dtype=torch.int64, device=device)
    low_face = _MAX_FACE_ID - face
    base = triangle // num_faces * resolution * resolution
    groups, counts = torch.unique_consecutive(tile, return_counts=True)
    first = 0
    for group, count in zip(groups.tolist(), counts.tolist(), strict=True):
        width, height = (_TILE_SIZES[i] for i in divmod(group, len(_TILE_SIZES)))
        part = slice(first, first + count)
        first += count
        # (rows, columns, triangles), or (triangles, rows, columns) for a few large triangles: the last
        # axis is the long one, which elementwise loops run along.
        last = count >= width
        t = table[:, part, None, None].permute(0, 2, 3, 1) if last else table[:, part, None, None]
        step_y = torch.arange(height, device=device, dtype=t.dtype).view((-1, 1, 1) if last else (1, -1, 1))
        step_x = torch.arange(width, device=device, dtype=t.dtype).view((1, -1, 1) if last else (1, 1, -1))
        cols, rows = t[_BOX] + step_x, t[_BOX + 1] + step_y
        inside = (cols <= t[_BOX + 2]) & (rows <= t[_BOX + 3])
        centre_x, centre_y = cols + 0.5, rows + 0.5
        for k in range(3):
            sign, start_x, start_y, dx, dy, threshold = t[_EDGE + 6 * k : _EDGE + 6 * k + 6]
            weight = sign * (dx * (centre_y - start_y)) - sign * (dy * (centre_x - start_x))
            inside &= weight >= threshold
        nearness = t[_NEAR] + t[_NEAR + 1] * (centre_x - t[_CORNER])
        nearness = nearness + t[_NEAR + 2] * (centre_y - t[_CORNER + 1])
        key = (nearness.view(torch.int32).long() << 32) + low_face[part].view(t.shape[1:])
        pixel = (rows.long() * resolution + base[part].view(t.shape[1:])) + cols.long()
        hit = inside.view(-1).nonzero()[:, 0]
        best.scatter_reduce_(
            0, pixel.view(-1).index_select(0, hit), key.view(-1).index_select(0, hit), "amax"
        )
    return _fragments(best, corners, triangle, num_faces, perspective, (batch, resolution, resolution))


def _table(
    corners: torch.Tensor, area: torch.Tensor, vertex_ids: torch.Tensor, box: torch.Tensor, perspective: bool
) -> torch.Tensor:
    """The per-triangle table (27,K) (rows as in `_EDGE` ... `_BOX`) of triangles with screen ``corners``
    (9,K) (x, y, depth of each corner), signed ``area`` (K,), ``vertex_ids`` (K,3) and pixel ``box`` (4,K).

    Edge k is the one opposite corner k: E_k(p) = sign (dx (p_y - start_y)) - sign (dy (p_x - start_x)) is
    non-negative inside, and p is inside if E_k(p) >= threshold for all k. Each edge runs from its lower
    vertex id, so the two triangles that share it compute the same value bit for bit, up to the sign. On
    the edge (E_k = 0), p is inside if E_k grows along (1, +0), the step that decides ties (threshold 0;
    otherwise the smallest positive float). Nearness is 1 / depth with
    perspective, -depth without: affine in screen space, larger nearer, shifted to be >= 0 so that its float
    bits sort as its values."""
    x, y, depth = corners[0::3], corners[1::3], corners[2::3]
    orientation = torch.sign(area)
    tiny = torch.nextafter(area.new_zeros(()), area.new_ones(()))
    rows = []
    for k in range(3):
        a, b = (k + 1) % 3, (k + 2) % 3
        forward = vertex_ids[:, a] < vertex_ids[:, b]
        start_x, start_y = torch.where(forward, x[a], x[b]), torch.where(forward, y[a], y[b])
        end_x, end_y = torch.where(forward, x[b], x[a]), torch.where(forward, y[b], y[a])
        sign = torch.where(forward, orientation, -orientation)
        dx, dy = end_x - start_x, end_y - start_y
        holds_ties = (sign * dy < 0) | ((dy == 0) & (sign * dx > 0))  # grad E_k = sign (-dy, dx)
        rows += [sign, start_x, start_y, dx, dy, torch.where(holds_ties, 0.0, tiny)]
    nearness = 1.0 / depth if perspective else -depth
    if nearness.numel():
        nearness = nearness - nearness.min()
    rows += [nearness[0], *_gradient(nearness, x, y, area), x[0], y[0], *box]
    return torch.stack(rows)


def _gradient(
    values: torch.Tensor, x: torch.Tensor, y: torch.Tensor, area: torch.Tensor
) -> list[torch.Tensor]:
    """Screen-space gradient (x, y) of the affine function with ``values`` (3,K) at the corners."""
    d1, d2 = values[1] - values[0], values[2] - values[0]
    return [
        (d1 * (y[2] - y[0]) - d2 * (y[1] - y[0])) / area,
        (d2 * (x[1] - x[0]) - d1 * (x[2] - x[0])) / area,
    ]


def _fragments(
    best: torch.Tensor,
    corners: torch.Tensor,
    triangle: torch.Tensor,
    num_faces: int,
    perspective: bool,
    shape: tuple[int, int, int],
) -> Fragments:
    """`Fragments` of ``shape`` (B,R,R) from the winning keys ``best`` (B*R*R,): barycentrics and depth at
    the pixel centres, from the screen ``corners`` (9,K) (x, y, depth of each corner) of the triangles
    ``triangle`` (K,) (b * F + face)."""
    batch, resolution, _ = shape
    pixel = (best != _BACKGROUND).nonzero()[:, 0]
    sample = pixel // (resolution * resolution)
    face = _MAX_FACE_ID - (best.index_select(0, pixel) & _LOW_BITS)
    row = torch.full((batch * num_faces,), -1, dtype=torch.long, device=best.device)
    row[triangle] = torch.arange(len(triangle), device=best.device)
    row = row.index_select(0, sample * num_faces + face)
    # Barycentric planes: b_k(p) = [k == 0] + grad b_k . (p - corner 0), gathered for the winners.
    x, y, depth = corners[0::3], corners[1::3], corners[2::3]
    area = (x[1] - x[0]) * (y[2] - y[0]) - (y[1] - y[0]) * (x[2] - x[0])
    planes = []
    for k in range(3):
        planes += _gradient(torch.eye(3, dtype=x.dtype, device=x.device)[k, :, None].expand_as(x), x, y, area)
    planes = torch.stack([*planes, x[0], y[0], *depth]).index_select(1, row)  # (11,N)
    px = (pixel % resolution).to(planes.dtype) + 0.5 - planes[6]
    py = ((pixel // resolution) % resolution).to(planes.dtype) + 0.5 - planes[7]
    linear = torch.stack([planes[2 * k] * px + planes[2 * k + 1] * py for k in range(3)])
    linear[0] += 1.0
    linear = linear.clamp_min(0)
    linear = linear / linear.sum(0)
    if perspective:
        linear = linear / planes[8:11]
        total = linear.sum(0)
        barycentric, pixel_depth = linear / total, 1.0 / total
    else:
        barycentric, pixel_depth = linear, (linear * planes[8:11]).sum(0)
    size = batch * resolution * resolution
    face_index = torch.full((size,), -1, dtype=torch.long, device=best.device).index_copy_(0, pixel, face)
    bary_map = planes.new_zeros(size, 3).index_copy_(0, pixel, barycentric.T)
    depth_map = planes.new_zeros(size).index_copy_(0, pixel, pixel_depth)
    return Fragments(face_index.view(shape), bary_map.view(*shape, 3), depth_map.view(shape))


def _pixel_span(coordinate: torch.Tensor, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """First and last pixel (N,) whose centre lies within each triangle's extent, from the corners'
    coordinates along one axis (3,N)."""
    low = torch.minimum(torch.minimum(coordinate[0], coordinate[1]), coordinate[2])
    high = torch.maximum(torch.maximum(coordinate[0], coordinate[1]), coordinate[2])
    low = torch.ceil(low - 0.5).clamp(0, resolution)
    high = torch.floor(high - 0.5).clamp(-1, resolution - 1)
    return low.long(), high.long()


class ZBufferRasterizer:
    """Z-buffer rasterization in PyTorch; the fastest backend on CPU, and exact for the pixel centres.

    A batch where a vertex lies at or behind a camera's plane (where projection has no bound) is ray cast
    by `Open3DRasterizer` instead."""

    name = "zbuffer"

    def rasterize(
        self,
        vertices: torch.Tensor,
        faces: torch.Tensor,
        cameras: Cameras,
        resolution: int,
        cull_backfaces: bool = False,
    ) -> Fragments:
        """vertices (B,V,3) world units, faces (F,3) -> `Fragments`; ``cull_backfaces`` leaves out the
        faces turned away from the camera."""
        cameras = cameras.to(vertices.device)
        pixels, depth = cameras.project(vertices.detach().float(), resolution)
        if not bool((depth > 0).all()):
            from .open3d_backend import Open3DRasterizer

            return Open3DRasterizer().rasterize(vertices, faces, cameras, resolution, cull_backfaces)
        screen = torch.cat([pixels, depth[..., None]], -1)
        # Faces turned towards the camera run counter-clockwise on screen: a negative area with y down.
        return _rasterize_pieces(screen, faces, resolution, -1 if cull_backfaces else 0, True)

    def rasterize_orthographic(self, points: torch.Tensor, faces: torch.Tensor, resolution: int) -> Fragments:
        """Nearest view-facing triangle (those of `facing_view`) per pixel centre of points (B,V,3) given in
        plane grid coordinates (x right, y down, pixel centres at (2 i + 1) / R - 1) and a depth, smaller
        nearer."""
        points = points.detach().float()
        screen = torch.cat([(points[..., :2] + 1) * (resolution / 2), points[..., 2:]], -1)
        return _rasterize_pieces(screen, faces, resolution, 1, False)


def _rasterize_pieces(
    screen: torch.Tensor, faces: torch.Tensor, resolution: int, facing: int, perspective: bool
) -> Fragments:
    """`rasterize_screen` on the CPU cores side by side (`parallel_map`), a piece of the batch each."""
    if screen.device.type != "cpu":
        return rasterize_screen(screen, faces, resolution, facing, perspective)
    pieces = parallel_map(
        lambda rows: rasterize_screen(screen[rows], faces, resolution, facing, perspective),
        split(len(screen)),
    )
    return Fragments.concatenate(pieces)
