"""Label-consistent augmentations of training batches, in torch, seeded by a `torch.Generator`.

Geometric transforms move the image, the segmentation, the depth and the landmarks together: a
horizontal flip also swaps the left/right landmark indices and the left/right classes; an affine map
(rotation, scale, shift) and a perspective map (random corner jitter) make one homography, which warps
the maps with `grid_sample` (bilinear for the image, nearest for segmentation and depth) and maps the
landmarks exactly, by its inverse.

Photometric transforms touch only the image, in this order: occluders (noise-textured ellipses, bars
and polygons, or the same shapes cut from another image of the batch, like a hand or an object) and
random erasing; brightness/contrast, saturation, hue, per-channel gain (white balance) and gamma;
Gaussian and motion blur; Gaussian noise; grayscale; JPEG artefacts (PIL encode/decode). Occluded and
erased regions keep the labels of the face underneath (amodal labels), so every label stays exact.

Everything random comes from the given generator: one generator state gives one output, which is what
makes resumed training exact. Written in torch rather than with an augmentation library because the
flip needs the 68-point and left/right class permutations and because the whole batch is transformed at
once (on CPU, one batch per call, as in data loader workers).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..constants import LANDMARK_FLIP_PERMUTATION, SEGMENTATION_FLIP_PERMUTATION

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights, as PIL's "L" conversion
POLYGON_SIDES = 6


def _uniform(shape, low: float, high: float, generator: torch.Generator | None) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator)


def _chosen(probability: float, size: int, generator: torch.Generator | None) -> torch.Tensor:
    """Indices of the samples (out of ``size``) picked with ``probability``."""
    return torch.nonzero(torch.rand(size, generator=generator) < probability)[:, 0]


def swap_sides(batch: dict[str, torch.Tensor], flip: torch.Tensor) -> dict[str, torch.Tensor]:
    """Swap the left/right classes and landmark indices of the samples where ``flip`` (B,) is True,
    without moving anything: with a mirror of the maps and the landmarks this makes a horizontal flip."""
    out = dict(batch)
    chosen = torch.nonzero(flip)[:, 0]
    if "segmentation" in batch:
        out["segmentation"] = batch["segmentation"].clone()
        out["segmentation"][chosen] = torch.as_tensor(SEGMENTATION_FLIP_PERMUTATION)[
            batch["segmentation"][chosen]
        ]
    if "landmarks_2d" in batch:
        out["landmarks_2d"] = batch["landmarks_2d"].clone()
        out["landmarks_2d"][chosen] = batch["landmarks_2d"][chosen][:, list(LANDMARK_FLIP_PERMUTATION)]
    return out


def horizontal_flip(batch: dict[str, torch.Tensor], flip: torch.Tensor) -> dict[str, torch.Tensor]:
    """Flip the samples where ``flip`` (B,) is True. Landmarks are pixel coordinates with pixel
    centres at i + 0.5, so x -> W - x."""
    out = dict(batch)
    chosen = torch.nonzero(flip)[:, 0]
    if not len(chosen):
        return out
    for key in ("pixel_values", "segmentation", "depth"):
        if key in batch:
            out[key] = batch[key].clone()
            out[key][chosen] = batch[key][chosen].flip(-1)
    if "landmarks_2d" in batch:
        out["landmarks_2d"] = batch["landmarks_2d"].clone()
        out["landmarks_2d"][chosen, :, 0] = (
            batch["pixel_values"].shape[-1] - batch["landmarks_2d"][chosen, :, 0]
        )
    return swap_sides(out, flip)


def affine_matrices(angles: torch.Tensor, scales: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """(B,2,3) maps from output to input normalised coordinates (`F.affine_grid` convention): the
    content is rotated by ``angles``, magnified by ``scales`` and moved by ``shifts`` (normalised)."""
    cos, sin = angles.cos() / scales, angles.sin() / scales
    linear = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], 1)  # rotate by -angle
    offset = -(linear @ shifts[..., None])[..., 0]
    return torch.cat([linear, offset[..., None]], dim=-1)


def homography_from_corners(offsets: torch.Tensor) -> torch.Tensor:
    """(B,3,3) homographies, in normalised coordinates, that map the image corners (+-1, +-1) (top left,
    top right, bottom right, bottom left) to the same corners moved by ``offsets`` (B,4,2)."""
    corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], dtype=torch.float64)
    x, y = corners.expand(offsets.shape[0], 4, 2).unbind(-1)
    u, v = (corners + offsets.double()).unbind(-1)
    zero, one = torch.zeros_like(x), torch.ones_like(x)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y], -1)
    rows_v = torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y], -1)
    entries = torch.linalg.solve(torch.cat([rows_u, rows_v], 1), torch.cat([u, v], 1))
    return torch.cat([entries, one[:, :1]], -1).reshape(-1, 3, 3).to(offsets.dtype)


def homography_warp(batch: dict[str, torch.Tensor], matrix: torch.Tensor) -> dict[str, torch.Tensor]:
    """Warp every map by ``matrix`` (B,3,3), which maps output to input normalised coordinates (-1 and
    1 at the image edges, as `grid_sample` with ``align_corners=False``), and map the landmarks to
    match, exactly, by its inverse. Pixels from outside the image are 0 (background, no depth)."""
    out = dict(batch)
    height, width = batch["pixel_values"].shape[-2:]
    xs = (torch.arange(width, dtype=matrix.dtype) * 2 + 1) / width - 1
    ys = (torch.arange(height, dtype=matrix.dtype) * 2 + 1) / height - 1
    m = matrix[..., None, None]  # (B,3,3,1,1): homogeneous input coordinates (B,3,H,W) of every pixel
    mapped = m[:, :, 0] * xs + (m[:, :, 1] * ys[:, None] + m[:, :, 2])
    grid = torch.stack([mapped[:, 0], mapped[:, 1]], -1) / mapped[:, 2, ..., None]
    out["pixel_values"] = F.grid_sample(batch["pixel_values"], grid, mode="bilinear", align_corners=False)
    labels = [batch[key][:, None].to(matrix.dtype) for key in ("segmentation", "depth") if key in batch]
    if labels:
        warped = F.grid_sample(torch.cat(labels, 1), grid, mode="nearest", align_corners=False)
        if "segmentation" in batch:
            out["segmentation"] = warped[:, 0].round().long()
        if "depth" in batch:
            out["depth"] = warped[:, -1]
    if "landmarks_2d" in batch:
        size = torch.tensor([width, height], dtype=torch.float64)
        normalised = batch["landmarks_2d"].double() / size * 2 - 1  # input coordinates
        homogeneous = torch.cat([normalised, torch.ones_like(normalised[..., :1])], -1)
        output = homogeneous @ torch.linalg.inv(matrix.double()).transpose(1, 2)
        out["landmarks_2d"] = ((output[..., :2] / output[..., 2:] + 1) / 2 * size).to(batch["landmarks_2d"])
    return out


def to_homography(theta: torch.Tensor) -> torch.Tensor:
    """(B,3,3) homographies of the affine maps ``theta`` (B,2,3)."""
    bottom = torch.tensor([0.0, 0.0, 1.0], dtype=theta.dtype).expand(theta.shape[0], 1, 3)
    return torch.cat([theta, bottom], 1)


def affine_warp(batch: dict[str, torch.Tensor], theta: torch.Tensor) -> dict[str, torch.Tensor]:
    """`homography_warp` by the affine maps ``theta`` (B,2,3)."""
    return homography_warp(batch, to_homography(theta))


def colour_matrices(saturation: torch.Tensor, hue: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
    """(B,3,3) linear RGB maps: scale the saturation by ``saturation`` (B,) around the luma, rotate
    the hue by ``hue`` (B,) radians around the grey axis, then multiply the channels by ``gains`` (B,3).
    Each keeps grey grey (before the gains)."""
    luma = torch.tensor(LUMA)
    s = saturation[:, None, None]
    saturate = s * torch.eye(3) + (1 - s) * luma.expand(3, 3)
    cos, sin = hue.cos()[:, None, None], hue.sin()[:, None, None]
    cross = torch.tensor([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]]) / math.sqrt(3)
    rotate = cos * torch.eye(3) + sin * cross + (1 - cos) * torch.full((3, 3), 1 / 3)
    return torch.diag_embed(gains) @ rotate @ saturate


def gaussian_blur(images: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Blur each image (N,3,H,W) with a separable Gaussian of std ``sigmas`` (N,) pixels."""
    count, channels, height, width = images.shape
    radius = max(1, math.ceil(3 * sigmas.max().item()))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernels = torch.exp(-(offsets**2) / (2 * sigmas[:, None] ** 2))
    kernels = (kernels / kernels.sum(-1, keepdim=True)).repeat_interleave(channels, 0)
    x = images.reshape(1, count * channels, height, width)
    x = F.conv2d(
        F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernels[:, None, None], groups=len(kernels)
    )
    x = F.conv2d(
        F.pad(x, (0, 0, radius, radius), mode="replicate"), kernels[:, None, :, None], groups=len(kernels)
    )
    return x.reshape(images.shape)


def motion_blur(images: torch.Tensor, lengths: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Blur each image (N,3,H,W) along a line of ``lengths`` (N,) pixels at ``angles`` (N,) radians."""
    count, channels, height, width = images.shape
    radius = max(1, math.ceil(lengths.max().item() / 2))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype)
    dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")
    cos, sin = angles.cos()[:, None, None], angles.sin()[:, None, None]
    along = (dx * cos + dy * sin).abs() - lengths[:, None, None] / 2
    distance = torch.hypot(dx * sin - dy * cos, along.clamp(min=0))  # to the segment
    kernels = (1 - distance).clamp(min=0)
    kernels = (kernels / kernels.sum((1, 2), keepdim=True)).repeat_interleave(channels, 0)
    x = F.pad(images.reshape(1, count * channels, height, width), (radius,) * 4, mode="replicate")
    return F.conv2d(x, kernels[:, None], groups=count * channels).reshape(images.shape)


def jpeg_compress(images: torch.Tensor, qualities: list[int]) -> torch.Tensor:
    """Encode and decode each image (N,3,H,W) in [0,1] as a JPEG at its quality (PIL, 4:2:0 chroma);
    images with equal channels are encoded as grayscale and stay so."""
    decoded = []
    for image, quality in zip(images, qualities, strict=True):
        array = (image * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
        grey = bool((image[0] == image[1]).all() and (image[1] == image[2]).all())
        buffer = io.BytesIO()
        Image.fromarray(array[..., 0] if grey else array).save(buffer, format="JPEG", quality=quality)
        decoded.append(torch.from_numpy(np.array(Image.open(buffer).convert("RGB"))).permute(2, 0, 1))
    return torch.stack(decoded).to(images.dtype) / 255


def occluder_masks(
    centres: torch.Tensor,
    radii: torch.Tensor,
    angles: torch.Tensor,
    aspects: torch.Tensor,
    kinds: torch.Tensor,
    sides: torch.Tensor,
    height: int,
    width: int,
) -> torch.Tensor:
    """(N,H,W) boolean shapes centred at ``centres`` (N,2) pixels, of size ``radii`` (N,) pixels,
    turned by ``angles`` (N,); by ``kinds`` (N,): 0 an ellipse with axis ratio ``aspects`` (N,), 1 a bar
    (3 by 0.7 * aspect radii), 2 the convex polygon inside the lines with ``sides`` (N,K,2) (angle of
    the normal, distance in radii)."""
    ys = torch.arange(height, dtype=centres.dtype)[None, :, None] + 0.5 - centres[:, 1, None, None]
    xs = torch.arange(width, dtype=centres.dtype)[None, None, :] + 0.5 - centres[:, 0, None, None]
    cos, sin = angles.cos()[:, None, None], angles.sin()[:, None, None]
    u = (xs * cos + ys * sin) / radii[:, None, None]
    v = (ys * cos - xs * sin) / radii[:, None, None]
    aspect = aspects[:, None, None]
    ellipse = u**2 + (v / aspect) ** 2 < 1
    bar = (u.abs() < 1.5) & (v.abs() < 0.35 * aspect)
    normals, distances = sides[..., 0, None, None], sides[..., 1, None, None]
    polygon = (u[:, None] * normals.cos() + v[:, None] * normals.sin() < distances).all(1)
    kind = kinds[:, None, None]
    return torch.where(kind == 0, ellipse, torch.where(kind == 1, bar, polygon))


@dataclass
class FaceAugmentation:
    """Random augmentations; a probability, magnitude or range of 0 (``scale_range`` (1, 1)) disables
    its transform, and with all of them off a batch comes back unchanged.

    Geometry: flip; rotation up to ``max_rotation_degrees``, scale in ``scale_range``, shift up to
    ``max_shift`` of the side, corners moved by up to ``perspective`` of the side. Occluders cover
    ``occluder_size`` of the side (diameter) around a random landmark (the image centre without
    landmarks); labels stay those of the face underneath. Colour: contrast and saturation factors in
    1 +- ``contrast``/``saturation``, brightness +- ``brightness``, hue +- ``hue_degrees``, channel gains
    1 +- ``channel_gain``, gamma in [1 / (1 + ``gamma``), 1 + ``gamma``]. Blur std in ``blur_sigma``
    pixels, motion blur over ``motion_blur_length`` pixels, noise std up to ``noise_std``, JPEG quality
    in ``jpeg_quality``."""

    flip_probability: float = 0.5
    max_rotation_degrees: float = 20.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    max_shift: float = 0.05
    perspective: float = 0.05
    occluder_probability: float = 0.2
    occluder_size: tuple[float, float] = (0.15, 0.45)
    erase_probability: float = 0.1
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.3
    hue_degrees: float = 8.0
    channel_gain: float = 0.1
    gamma: float = 0.25
    blur_probability: float = 0.2
    blur_sigma: tuple[float, float] = (0.4, 1.5)
    motion_blur_probability: float = 0.05
    motion_blur_length: tuple[float, float] = (3.0, 9.0)
    noise_probability: float = 0.5
    noise_std: float = 0.03
    grayscale_probability: float = 0.05
    jpeg_probability: float = 0.3
    jpeg_quality: tuple[int, int] = (20, 90)

    def __call__(
        self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """``batch`` holds CPU tensors: ``pixel_values`` (B,3,H,W) in [0,1] and optionally
        ``segmentation`` (B,H,W), ``depth`` (B,H,W) and ``landmarks_2d`` (B,K,2) pixels."""
        original = batch["pixel_values"]
        batch = self._geometry(batch, generator)
        pixels = batch["pixel_values"]
        pixels = pixels.clone() if pixels is original else pixels  # the steps below write in place
        self._occlude(pixels, batch.get("landmarks_2d"), generator)
        self._erase(pixels, generator)
        pixels = self._colour(pixels, generator)
        self._degrade(pixels, generator)
        return {**batch, "pixel_values": pixels.clamp_(0, 1)}

    def _geometry(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None) -> dict:
        """Flip, affine and perspective maps as one homography (a plain flip without the others)."""
        size = batch["pixel_values"].shape[0]
        flip = torch.rand(size, generator=generator) < self.flip_probability
        angles = _uniform(size, -1, 1, generator) * math.radians(self.max_rotation_degrees)
        scales = _uniform(size, *self.scale_range, generator)
        shifts = _uniform((size, 2), -1, 1, generator) * 2 * self.max_shift
        corners = _uniform((size, 4, 2), -1, 1, generator) * 2 * self.perspective
        matrix = to_homography(affine_matrices(angles, scales, shifts)) @ homography_from_corners(corners)
        if torch.equal(matrix, torch.eye(3).expand_as(matrix)):
            return horizontal_flip(batch, flip)
        mirror = torch.diag_embed(torch.stack([1 - 2 * flip.float(), torch.ones(size), torch.ones(size)], -1))
        return swap_sides(homography_warp(batch, mirror @ matrix), flip)  # flip first, then warp

    def _occlude(
        self, pixels: torch.Tensor, landmarks: torch.Tensor | None, generator: torch.Generator | None
    ) -> None:
        """Paste noise-textured shapes, or shapes cut from another image of the batch, over the faces
        (in place)."""
        chosen = _chosen(self.occluder_probability, pixels.shape[0], generator)
        if not len(chosen):
            return
        count, (height, width) = len(chosen), pixels.shape[-2:]
        radii = _uniform(count, *self.occluder_size, generator) * min(height, width) / 2
        if landmarks is None:
            centres = (_uniform((count, 2), -0.25, 0.25, generator) + 0.5) * torch.tensor([width, height])
        else:
            point = torch.randint(landmarks.shape[1], (count,), generator=generator)
            centres = landmarks[chosen, point] + _uniform((count, 2), -0.5, 0.5, generator) * radii[:, None]
        polygon_normals = torch.arange(POLYGON_SIDES) + _uniform((count, POLYGON_SIDES), -0.3, 0.3, generator)
        polygon_normals = polygon_normals * (2 * math.pi / POLYGON_SIDES)
        masks = occluder_masks(
            centres,
            radii,
            _uniform(count, 0, math.pi, generator),
            _uniform(count, 0.3, 1.0, generator),
            torch.randint(3, (count,), generator=generator),
            torch.stack([polygon_normals, _uniform((count, POLYGON_SIDES), 0.5, 1.0, generator)], -1),
            height,
            width,
        )
        colours = torch.rand(count, 3, 1, 1, generator=generator)
        blotches = F.interpolate(
            torch.rand(count, 3, 5, 5, generator=generator), size=(height, width), mode="bilinear"
        )
        textures = (colours + 0.4 * (blotches - 0.5)).clamp(0, 1)
        if pixels.shape[0] > 1:  # half of them cut from another image of the batch, moved at random
            sources = (chosen + torch.randint(1, len(pixels), (count,), generator=generator)) % len(pixels)
            shifts = torch.randint(-height // 2, height // 2 + 1, (count, 2), generator=generator)
            for i in torch.nonzero(torch.rand(count, generator=generator) < 0.5)[:, 0].tolist():
                textures[i] = pixels[sources[i]].roll(tuple(shifts[i].tolist()), dims=(1, 2))
        pixels[chosen] = torch.where(masks[:, None], textures, pixels[chosen])

    def _erase(self, pixels: torch.Tensor, generator: torch.Generator | None) -> None:
        """Fill a random box of the chosen images with a random flat colour (in place)."""
        chosen = _chosen(self.erase_probability, pixels.shape[0], generator)
        if not len(chosen):
            return
        count, (height, width) = len(chosen), pixels.shape[-2:]
        cx, cy = _uniform(count, 0, width, generator), _uniform(count, 0, height, generator)
        half_w = _uniform(count, 0.05, 0.2, generator) * width
        half_h = _uniform(count, 0.05, 0.2, generator) * height
        xs, ys = torch.arange(width) + 0.5, torch.arange(height)[:, None] + 0.5
        box = ((xs - cx[:, None, None]).abs() < half_w[:, None, None]) & (
            (ys - cy[:, None, None]).abs() < half_h[:, None, None]
        )
        colours = torch.rand(count, 3, 1, 1, generator=generator)
        pixels[chosen] = torch.where(box[:, None], colours, pixels[chosen])

    def _colour(self, pixels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Brightness/contrast, saturation, hue and channel gains as one affine colour map, then gamma."""
        size = pixels.shape[0]
        if any((self.brightness, self.contrast, self.saturation, self.hue_degrees, self.channel_gain)):
            contrast = 1 + _uniform(size, -1, 1, generator) * self.contrast
            brightness = _uniform(size, -1, 1, generator) * self.brightness
            linear = colour_matrices(
                1 + _uniform(size, -1, 1, generator) * self.saturation,
                _uniform(size, -1, 1, generator) * math.radians(self.hue_degrees),
                1 + _uniform((size, 3), -1, 1, generator) * self.channel_gain,
            )
            # (p - mean) * contrast + mean + brightness, then the linear map
            offsets = (1 - contrast) * pixels.mean(dim=(1, 2, 3)) + brightness
            offsets = linear.sum(-1, keepdim=True) * offsets[:, None, None]
            flat = torch.baddbmm(offsets, linear * contrast[:, None, None], pixels.flatten(2))
            pixels = flat.reshape(pixels.shape).clamp_(0, 1)
        if self.gamma:
            exponents = torch.exp(_uniform(size, -1, 1, generator) * math.log1p(self.gamma))
            pixels = pixels.log_().mul_(exponents[:, None, None, None]).exp_()  # in place, faster than pow
        return pixels

    def _degrade(self, pixels: torch.Tensor, generator: torch.Generator | None) -> None:
        """Camera-like degradations of the chosen images, in place: blur, motion blur, noise, grayscale,
        JPEG."""
        size = pixels.shape[0]
        chosen = _chosen(self.blur_probability, size, generator)
        if len(chosen):
            pixels[chosen] = gaussian_blur(pixels[chosen], _uniform(len(chosen), *self.blur_sigma, generator))
        chosen = _chosen(self.motion_blur_probability, size, generator)
        if len(chosen):
            lengths = _uniform(len(chosen), *self.motion_blur_length, generator)
            angles = _uniform(len(chosen), 0, math.pi, generator)
            pixels[chosen] = motion_blur(pixels[chosen], lengths, angles)
        chosen = _chosen(self.noise_probability if self.noise_std else 0, size, generator)
        if len(chosen):
            stds = _uniform(len(chosen), 0, self.noise_std, generator)[:, None, None, None]
            noise = torch.randn((len(chosen), *pixels.shape[1:]), generator=generator) * stds
            pixels[chosen] = (pixels[chosen] + noise).clamp_(0, 1)
        chosen = _chosen(self.grayscale_probability, size, generator)
        if len(chosen):
            grey = torch.einsum("c,nchw->nhw", torch.tensor(LUMA), pixels[chosen])
            pixels[chosen] = grey[:, None].expand(-1, 3, -1, -1)
        chosen = _chosen(self.jpeg_probability, size, generator)
        if len(chosen):
            low, high = self.jpeg_quality
            qualities = torch.randint(low, high + 1, (len(chosen),), generator=generator).tolist()
            pixels[chosen] = jpeg_compress(pixels[chosen], qualities)
