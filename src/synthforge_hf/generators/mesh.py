"""`MeshFaceGenerator`: renders the head mesh itself, so every pixel's label is exact.

Appearance is a deterministic function of a latent vector of uniform numbers (`LATENT_FIELDS`), so a
sample is reproducible from its latents alone; the few fields named ``*_seed`` seed the generators of
the procedural textures and the background clutter. Labels never depend on it: they come from the
rasterized mesh before any shading.

- Albedo: skin tone, redness and olive tint, regional colour (cheeks, nose, under the eyes), blotches,
  freckles and pores from band-limited noise attached to the head surface (rest-pose coordinates, so
  textures move with the skin); brows as strokes, lashes and lid lines along the eye openings, stubble
  or a beard on the lower face, hair with strands flowing from the crown and a soft hairline; irises with
  fibres, a limbal ring and lid shadow. Everything is painted inside its own classes (or on skin).
- Shading, in linear RGB: a key, a fill and a rim light with colour temperatures, a hemisphere ambient
  tinted by the background, screen-space ambient occlusion from the depth map, wrapped diffuse with a
  subsurface-like softening of the light on skin, Blinn-Phong speculars whose strength follows an oiliness
  map (none on brows and beards), wet eyes, and Kajiya-Kay highlights on hair.
- Background: gradients, multi-scale colour noise and random soft shapes (rectangles, ellipses, stripes),
  blurred by a random depth of field.
- Camera: exposure, white balance, vignetting, lens blur, a soft highlight shoulder, gamma and sensor noise.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import register_to_config
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401  (see FaceGenerator's docstring)

from ..constants import CLASS_ID
from ..rendering.cameras import WORLD_UNITS_PER_METRE
from ..rendering.fragments import Fragments
from ..rendering.parallel import parallel_map, split
from .base import FaceGenerator, GeneratorOutput, Scene

# Albedos in linear RGB.
SKIN_TONES = (
    (0.85, 0.62, 0.50),
    (0.74, 0.50, 0.38),
    (0.62, 0.40, 0.29),
    (0.46, 0.28, 0.19),
    (0.30, 0.17, 0.11),
    (0.16, 0.09, 0.06),
)
HAIR_COLOURS = (
    (0.02, 0.015, 0.01),
    (0.08, 0.04, 0.02),
    (0.20, 0.10, 0.04),
    (0.45, 0.30, 0.12),
    (0.55, 0.20, 0.06),
    (0.50, 0.50, 0.48),
)
IRIS_COLOURS = (
    (0.06, 0.03, 0.015),
    (0.18, 0.09, 0.03),
    (0.10, 0.20, 0.30),
    (0.12, 0.18, 0.08),
    (0.25, 0.28, 0.30),
)
SCLERA = (0.70, 0.66, 0.62)
INNER_MOUTH = (0.20, 0.03, 0.03)
# Light colours from warm (tungsten) through neutral to cool (shade), unit luminance-ish.
LIGHT_COLOURS = (
    (1.00, 0.72, 0.48),
    (1.00, 0.88, 0.74),
    (1.00, 1.00, 1.00),
    (0.86, 0.93, 1.10),
    (0.74, 0.86, 1.18),
)

# Meaning of each latent coordinate (all U(0,1)). New fields are appended, so older ones keep their index.
LATENT_FIELDS = (
    "skin_tone",
    "skin_redness",
    "hair_colour",
    "iris_colour",
    "lip_tint",
    "light_azimuth",
    "light_elevation",
    "light_intensity",
    "ambient",
    "specular",
    "background_hue_a",
    "background_hue_b",
    "background_value",
    "background_angle",
    "texture_seed",
    "roughness",
    "skin_olive",
    "blotches",
    "freckles",
    "pores",
    "oiliness",
    "beard",
    "brow_density",
    "hair_density",
    "hair_shine",
    "fill_light",
    "rim_light",
    "light_temperature",
    "exposure",
    "background_clutter",
    "background_blur",
    "camera_blur",
    "sensor_noise",
    "background_seed",
    "sclera",
)
_FIELD = {name: i for i, name in enumerate(LATENT_FIELDS)}

# Head-frame layout shared by every head (they are aligned on the eye corners; metres, y up, +z front).
_CRANIUM_CENTRE = (0.0, 0.015, -0.02)
_CROWN_TILT = 0.35  # the hair's crown axis leans backwards from +y by this angle (radians)
_SKIN_PERIOD = 0.16  # metres covered by one period of the noise bank on the skin
_BANK_SIZE = 256
# Noise bank channels: (low, high) spatial frequency in cycles per period.
_BANDS = ((48.0, 128.0), (24.0, 80.0), (6.0, 20.0), (1.5, 5.0))
_PORES, _SPECKLE, _MID, _LOW = range(4)
_NUM_SHAPES = 10  # background shapes drawn per sample (each present with a probability)
# 1 on the eyeballs, 2 on the lids (where lashes and lid lines are painted), 0 elsewhere; by class id.
_EYE_KIND = torch.zeros(len(CLASS_ID), dtype=torch.long)
_EYE_KIND[[CLASS_ID["left_eyeball"], CLASS_ID["right_eyeball"]]] = 1
_EYE_KIND[[CLASS_ID[n] for n in ("left_eye_region", "right_eye_region", "eye_region")]] = 2


def _palette(colours: tuple[tuple[float, float, float], ...], t: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation along a palette; t (B,) in [0,1] -> (B,3)."""
    table = torch.tensor(colours, dtype=torch.float32, device=t.device)
    pos = t.clamp(0, 1) * (len(colours) - 1)
    lo = pos.floor().long().clamp(max=len(colours) - 2)
    frac = (pos - lo)[:, None]
    return table[lo] * (1 - frac) + table[lo + 1] * frac


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    k = torch.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6], dim=-1)
    return v[..., None] - v[..., None] * s[..., None] * (torch.minimum(k, 4 - k).clamp(0, 1))


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted vertex normals (B,V,3)."""
    corners = vertices.index_select(1, faces.reshape(-1)).view(vertices.shape[0], -1, 3, 3)  # (B,F,3,3)
    face_normals = torch.linalg.cross(
        corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0]
    )
    normals = torch.zeros_like(vertices)
    for k in range(3):
        normals.index_add_(1, faces[:, k], face_normals)
    return F.normalize(normals, dim=-1)


def _smoothstep(edge0: float, edge1: float, x: torch.Tensor) -> torch.Tensor:
    """Hermite step from 0 at ``edge0`` to 1 at ``edge1`` (either order)."""
    t = ((x - edge0) / (edge1 - edge0)).clamp(0, 1)
    return t * t * (3 - 2 * t)


def _gauss(x: torch.Tensor, y: torch.Tensor, cx: float, cy: float, sx: float, sy: float) -> torch.Tensor:
    return torch.exp(-(((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Dot product of packed vectors (3,N) (b may be (3,1)) -> (N,)."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _unit(v: torch.Tensor) -> torch.Tensor:
    """Normalise packed vectors (3,N)."""
    return v * torch.rsqrt(_dot(v, v).clamp_min(1e-12))


@functools.lru_cache(maxsize=1)
def _noise_bank() -> torch.Tensor:
    """Fixed periodic band-limited noises (1,4,N+1,N+1), zero mean and unit variance, one band per
    channel (`_BANDS`); the last row and column repeat the first so bilinear lookups wrap seamlessly."""
    generator = torch.Generator().manual_seed(2021)
    n = _BANK_SIZE
    white = torch.randn(len(_BANDS), n, n, generator=generator, dtype=torch.float64)
    fy = torch.fft.fftfreq(n, d=1 / n).abs()[:, None]
    fx = torch.fft.rfftfreq(n, d=1 / n)[None]
    f = torch.sqrt(fx**2 + fy**2)
    filters = torch.stack(
        [(1 - torch.exp(-((f / lo) ** 2))) * torch.exp(-((f / hi) ** 2)) for lo, hi in _BANDS]
    )
    noise = torch.fft.irfft2(torch.fft.rfft2(white) * filters, s=(n, n))
    noise = (noise - noise.mean((1, 2), keepdim=True)) / noise.std(dim=(1, 2), keepdim=True)
    noise = torch.cat([noise, noise[:, :1]], 1)
    noise = torch.cat([noise, noise[:, :, :1]], 2)
    return noise.float()[None].contiguous()


@functools.lru_cache(maxsize=16)
def _bank_channels(channels: tuple[int, ...]) -> torch.Tensor:
    """The noise bank's ``channels`` (1,C,N+1,N+1)."""
    return _noise_bank()[:, list(channels)].contiguous()


def _lookup(channels: list[int], u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Sample noise-bank ``channels`` at periodic texture coordinates u, v (any shape, 1 = one period)
    -> (len(channels), *u.shape)."""
    bank = _bank_channels(tuple(channels))
    grid = torch.stack([(u - u.floor()).reshape(-1), (v - v.floor()).reshape(-1)], dim=-1) * 2 - 1
    out = F.grid_sample(bank, grid[None, None], mode="bilinear", padding_mode="border", align_corners=True)
    return out[0, :, 0].reshape(len(channels), *u.shape)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B,C,H,W), borders replicated: weighted sums of shifted views (much
    cheaper than a grouped convolution for these few taps)."""
    radius = max(1, math.ceil(2.5 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (taps / max(sigma, 1e-3)) ** 2)
    kernel = (kernel / kernel.sum()).tolist()
    height, width = x.shape[-2:]
    padded = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    rows = padded[..., 0:width] * kernel[0]
    for k in range(1, len(kernel)):
        rows.add_(padded[..., k : k + width], alpha=kernel[k])
    out = rows[..., 0:height, :] * kernel[0]
    for k in range(1, len(kernel)):
        out.add_(rows[..., k : k + height, :], alpha=kernel[k])
    return out


def _shift_max(mask: torch.Tensor, reach: int, downwards: bool) -> torch.Tensor:
    """For each pixel, whether ``mask`` (B,1,H,W) float holds within ``reach`` pixels below it
    (``downwards``) or above it."""
    height = mask.shape[2]
    if downwards:
        padded = F.pad(mask, (0, 0, 0, reach))
        return F.max_pool2d(padded, (reach, 1), stride=1)[:, :, 1 : height + 1]
    padded = F.pad(mask, (0, 0, reach, 0))
    return F.max_pool2d(padded, (reach, 1), stride=1)[:, :, :height]


def _rotation_rest_to_world(rest: torch.Tensor, posed: torch.Tensor) -> torch.Tensor:
    """Rotations (B,3,3) that best map rest-pose vertices (V,3) onto posed ones (B,V,3) (Kabsch)."""
    a = rest - rest.mean(0)
    b = posed - posed.mean(1, keepdim=True)
    cov = torch.einsum("vi,bvj->bij", a, b)
    u, _, vt = torch.linalg.svd(cov)
    d = torch.sign(torch.linalg.det(vt.transpose(1, 2) @ u.transpose(1, 2)))
    fix = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    return vt.transpose(1, 2) @ fix @ u.transpose(1, 2)


def _interpolate(values: torch.Tensor, corners: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Rows (M,C) of ``values`` at pixels whose triangles have the rows ``corners`` (3,N), blended by
    ``weights`` (3,N) -> (C,N)."""
    columns = values.T.contiguous()
    out = columns.index_select(1, corners[0]).mul_(weights[0])
    out.addcmul_(columns.index_select(1, corners[1]), weights[1])
    out.addcmul_(columns.index_select(1, corners[2]), weights[2])
    return out


# Channels of the per-vertex maps computed once per head from its rest pose (`_static_maps`).
_STATIC = (
    "x",
    "y",
    "lips",
    "brow",
    "scalp",
    "cheeks",
    "nose",
    "under_eye",
    "oil",
    "beard_zone",
    "skin_u",
    "hair_across",
    "hair_along",
)
_S = {name: i for i, name in enumerate(_STATIC)}


def _static_maps(head) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-vertex maps (V,len(_STATIC)) and the hair's strand direction (V,3), both in the rest pose:
    smooth class weights (interpolated over a triangle they paint without the label's pixel steps),
    regional skin maps, the beard zone, and the texture coordinates of skin and hair."""
    rest = head.v_template.float().cpu()
    labels = head.vertex_labels.cpu()
    x, y, z = rest.unbind(-1)
    ax = x.abs()

    def weight(*names: str) -> torch.Tensor:
        return sum((labels == CLASS_ID[name]).float() for name in names)

    cheeks = _gauss(ax, y, 0.045, -0.006, 0.02, 0.018)
    nose = _gauss(x, y, 0.0, 0.002, 0.011, 0.013)
    chin = _gauss(x, y, 0.0, -0.072, 0.02, 0.014)
    forehead = _smoothstep(0.045, 0.07, y) * _smoothstep(0.055, 0.03, ax)
    # Beard: the lower face below a line from the sideburns to the mouth corners, and a moustache.
    cheek_line = -0.028 + (ax - 0.028).clamp_min(0) * 1.3
    lower = _smoothstep(cheek_line + 0.006, cheek_line - 0.006, y) * _smoothstep(-0.115, -0.09, y)
    moustache = _smoothstep(0.03, 0.02, ax) * _smoothstep(-0.036, -0.03, y) * _smoothstep(-0.006, -0.012, y)
    beard = torch.maximum(lower, moustache) * _smoothstep(-0.045, -0.02, z)
    # Hair strands run along meridians from a crown on the top of the head.
    centre = torch.tensor(_CRANIUM_CENTRE)
    axis = torch.tensor([0.0, math.cos(_CROWN_TILT), -math.sin(_CROWN_TILT)])
    front = torch.tensor([0.0, math.sin(_CROWN_TILT), math.cos(_CROWN_TILT)])
    q = F.normalize(rest - centre, dim=-1)
    cos_theta = (q @ axis).clamp(-1, 1)
    phi = torch.atan2(q[:, 0], q @ front)
    tangent = F.normalize(cos_theta[:, None] * q - axis, dim=-1)
    maps = {
        "x": x,
        "y": y,
        "lips": weight("upper_lip", "lower_lip"),
        "brow": weight("left_eyebrow", "right_eyebrow"),
        "scalp": weight("scalp"),
        "cheeks": cheeks,
        "nose": nose,
        "under_eye": _gauss(ax, y, 0.030, 0.0125, 0.013, 0.005)
        + 0.6 * _gauss(ax, y, 0.031, 0.024, 0.02, 0.013),
        "oil": 0.45 + forehead + nose + 0.6 * chin,
        "beard_zone": beard,
        "skin_u": 0.09 * torch.atan2(x, z - _CRANIUM_CENTRE[2]) / _SKIN_PERIOD,
        "hair_across": phi / (2 * math.pi) * 3.0,
        "hair_along": torch.arccos(cos_theta) / math.pi * 0.6,
    }
    return torch.stack([maps[name] for name in _STATIC], -1).contiguous(), tangent


class MeshFaceGenerator(FaceGenerator):
    """Shaded rendering of the head mesh with sampled skin, hair, eyes, lighting, background and camera.

    Args:
        latent_dim: size of the appearance latent (at least the number of appearance fields).
        iris_angle / pupil_angle: half-angles (radians) of the iris and pupil seen from the eye centre.
        skin_texture_strength: amplitude of the skin albedo noise (pores scale with it).
    """

    @register_to_config
    def __init__(
        self,
        latent_dim: int = len(LATENT_FIELDS),
        iris_angle: float = 0.50,
        pupil_angle: float = 0.20,
        skin_texture_strength: float = 0.08,
    ):
        super().__init__()
        if latent_dim < len(LATENT_FIELDS):
            raise ValueError(f"latent_dim must be >= {len(LATENT_FIELDS)}")
        self.register_buffer("skin_tones", torch.tensor(SKIN_TONES))
        self.register_buffer("_device_anchor", torch.zeros(0), persistent=False)
        self._static_cache: tuple[object, tuple[torch.Tensor, torch.Tensor]] | None = None

    def sample_latents(self, generators: list[torch.Generator | None]) -> torch.Tensor:
        return torch.stack([torch.rand(self.config.latent_dim, generator=g) for g in generators])

    def _static(self, head) -> tuple[torch.Tensor, torch.Tensor]:
        """`_static_maps` of ``head``, kept while the same head (same template tensor) is rendered."""
        key = (id(head), head.v_template.data_ptr(), tuple(head.v_template.shape))
        if self._static_cache is None or self._static_cache[0] != key:
            self._static_cache = (key, _static_maps(head))
        return self._static_cache[1]

    def _unpack(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample appearance parameters (B,) or (B,3) from the latents."""
        f = lambda name: latents[:, _FIELD[name]]  # noqa: E731
        skin = _palette(tuple(map(tuple, self.skin_tones.tolist())), f("skin_tone"))
        redness = 0.9 + 0.2 * f("skin_redness")
        olive = 0.12 * (f("skin_olive") - 0.5)
        skin = skin * torch.stack([redness, 1 + olive, (2 - redness) * (1 - olive)], -1)
        hair = _palette(HAIR_COLOURS, f("hair_colour"))
        lip_tint = 0.5 + 0.25 * f("lip_tint")
        lips = skin * torch.stack([0.9 * torch.ones_like(lip_tint), lip_tint, lip_tint * 1.05], -1) * 0.75
        return {
            "skin": skin,
            "hair": hair,
            "lips": lips,
            "brow": torch.minimum(hair, 0.3 * skin) * (0.35 + 0.3 * f("brow_density"))[:, None],
            "stubble": torch.minimum(hair, 0.45 * skin),
            "iris": _palette(IRIS_COLOURS, f("iris_colour")),
            "sclera": torch.tensor(SCLERA) * (0.75 + 0.3 * f("sclera"))[:, None],
            "redness": 0.2 + 0.8 * f("skin_redness"),
            "blotches": f("blotches"),
            "freckles": _smoothstep(0.6, 1.0, f("freckles")),
            "pores": (0.3 + 0.7 * f("pores")) * self.config.skin_texture_strength,
            # About half the faces are clean-shaven; the rest range from light stubble to a full beard.
            "beard": _smoothstep(0.5, 1.0, f("beard")),
            "brow_density": f("brow_density"),
            "hair_density": _smoothstep(0.05, 0.3, f("hair_density")),
            "ambient": 0.08 + 0.22 * f("ambient"),
            "shininess": 12 + 70 * f("roughness"),
            "specular": 0.03 + 0.22 * f("specular"),
            "oiliness": 0.9 * f("oiliness"),
            "hair_shine": 0.04 + 0.3 * f("hair_shine"),
            "background_light": 0.8 + 0.5 * f("light_intensity"),
        }

    # ------------------------------------------------------------------------------------------
    # One sample's pixels (packed: values (C,N) over its N foreground pixels)

    def _albedo(
        self, p: dict[str, torch.Tensor], st: torch.Tensor, lab: torch.Tensor, off: list[float]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Textured albedo (3,N) and the weights shading needs, from the rest-pose maps ``st`` (C,N),
        the labels ``lab`` (N,) and the texture offsets ``off``."""
        s = lambda name: st[_S[name]]  # noqa: E731
        col = lambda v: v.view(3, 1)  # noqa: E731
        eyes = ((lab == CLASS_ID["left_eyeball"]) | (lab == CLASS_ID["right_eyeball"])).float()
        mouth = (lab == CLASS_ID["inner_mouth"]).float()
        ears = ((lab == CLASS_ID["left_ear"]) | (lab == CLASS_ID["right_ear"])).float()
        lips = s("lips")
        skin_like = 1 - eyes - mouth
        facial_hair = torch.zeros_like(lips)  # brow and beard cover: matte, no skin highlight

        noise = _lookup(
            [_PORES, _SPECKLE, _MID, _LOW], s("skin_u") + off[0], s("y") * (1 / _SKIN_PERIOD) + off[1]
        )
        pores, speckle, mid, low = noise.unbind(0)
        # Skin: regional redness and blotches, under-eye shadow, freckles, low-frequency tone and pores.
        red = p["redness"] * (0.6 * s("cheeks") + 0.5 * s("nose") + 0.3 * ears) + (0.35 * p["blotches"]) * mid
        freckle = p["freckles"] * _smoothstep(1.3, 2.2, 0.8 * speckle + 0.6 * mid)
        freckle = (freckle * (0.2 + s("cheeks") + s("nose"))).clamp(0, 1)
        tint = torch.stack([red, s("under_eye"), freckle])  # (3,N)
        change = torch.tensor([[0.30, -0.16, -0.28], [-0.08, -0.19, -0.36], [-0.06, -0.12, -0.45]]) @ tint
        grain = 1 + 0.07 * low + p["pores"] * pores
        albedo = torch.lerp(col(p["skin"]).expand(3, lips.shape[0]), col(p["lips"]), lips[None])
        albedo = albedo * (grain * (1 + change))

        # Stubble / beard on the lower face (not on the lips): a fine, even shadow that thickens.
        amount = p["beard"]
        if amount > 0:
            growth = amount * (0.45 + 0.5 * amount) * (0.8 + 0.2 * pores + 0.15 * amount * mid)
            beard = (growth * s("beard_zone") * skin_like * (1 - lips)).clamp(0, 1)
            albedo = torch.lerp(albedo, col(p["stubble"]), beard[None])
            facial_hair = beard

        # Brows: strokes along the brow (outwards and a little up), soft edges.
        brow_weight = s("brow")
        on_brow = (brow_weight > 0).nonzero()[:, 0]
        if len(on_brow):
            pick = lambda v: v.index_select(-1, on_brow)  # noqa: E731
            ax = pick(s("x")).abs()
            strokes = _lookup(
                [_SPECKLE],
                ax * (0.7 / _SKIN_PERIOD) + off[4],
                (pick(s("y")) - 0.35 * ax) * (6.0 / _SKIN_PERIOD) + off[5],
            )[0]
            brow = pick(brow_weight) * (0.75 + 0.5 * p["brow_density"] + 0.25 * strokes)
            brow = brow.clamp(0, 1) * (1 - pick(eyes))
            albedo.index_copy_(1, on_brow, torch.lerp(pick(albedo), col(p["brow"]), brow[None]))
            facial_hair.index_copy_(0, on_brow, torch.maximum(pick(facial_hair), brow))

        # Hair on the scalp: strands, a hairline that thins out, bald heads with stubble.
        scalp = s("scalp")
        coverage = torch.zeros_like(scalp)
        on_scalp = (scalp > 0).nonzero()[:, 0]
        if len(on_scalp):
            pick = lambda v: v.index_select(-1, on_scalp)  # noqa: E731
            strand_noise = _lookup(
                [_PORES, _MID], pick(s("hair_across")) + off[2], pick(s("hair_along")) + off[3]
            )
            strands = 0.65 * strand_noise[0] + 0.35 * strand_noise[1]
            weight = pick(scalp)
            density = p["hair_density"]
            cover = ((weight - 0.5) * 3.0 + 0.25 * strands + 0.6).clamp(0, 1) * density
            cover = cover * pick(skin_like)
            bald = weight * ((1 - density) * (0.35 + 0.1 * pick(pores)))
            here = torch.lerp(pick(albedo), col(p["stubble"]), bald[None])
            hair = col(p["hair"]) * ((1 + 0.45 * strands).clamp_min(0.2) * (1 + 0.25 * pick(low)))
            albedo.index_copy_(1, on_scalp, torch.lerp(here, hair, cover[None]))
            coverage.index_copy_(0, on_scalp, cover)

        albedo = torch.where(mouth.bool(), torch.tensor(INNER_MOUTH).view(3, 1), albedo)
        albedo = torch.where(eyes.bool(), col(p["sclera"]), albedo)
        skin = skin_like * (1 - coverage)
        weights = {
            "skin": skin * (1 - lips),
            "bare_skin": skin * (1 - lips) * (1 - facial_hair),
            "lips": lips * skin_like,
            "hair": coverage,
            "eyes": eyes,
            "oil": (s("oil") + 0.25 * pores).clamp(0, 2),
        }
        return albedo, weights

    def _paint_eyes(
        self,
        scene: Scene,
        b: int,
        depth: torch.Tensor,
        rays: torch.Tensor,
        labels: torch.Tensor,
        pixels: torch.Tensor,
        lab: torch.Tensor,
        albedo: torch.Tensor,
        p: dict[str, torch.Tensor],
        off: list[float],
    ) -> torch.Tensor:
        """Iris (with fibres and a limbal ring) and pupil by the angle between a pixel's eyeball point and
        the gaze axis; lashes and lid lines along the openings; the upper lid's shadow on the eyeball.
        ``depth`` (N,) and ``rays`` (N,3) of the sample's pixels, ``labels`` its (H,W) label image,
        ``pixels`` (N,) their flat indices in it."""
        resolution = scene.resolution
        eyes = (lab == CLASS_ID["left_eyeball"]) | (lab == CLASS_ID["right_eyeball"])
        which = eyes.nonzero()[:, 0]
        if len(which):
            origin = scene.cameras.centers[b].float().cpu()
            joints_world = self.head_to_world(scene.head_output.joints[b]).float().cpu()
            vertices = scene.vertices_world[b].float().cpu()
            vertex_labels = scene.head.vertex_labels.cpu()
            rest_z = scene.head.v_template[:, 2].float().cpu()
            points = origin + depth.index_select(0, which)[:, None] * rays.index_select(0, which)
            right = lab.index_select(0, which) == CLASS_ID["right_eyeball"]
            centres, gazes = [], []
            for eye, joint in (("left_eyeball", 3), ("right_eyeball", 4)):
                on_eye = vertex_labels == CLASS_ID[eye]
                front = torch.where(on_eye, rest_z, torch.full_like(rest_z, -1e9)).argmax()
                centres.append(joints_world[joint])
                gazes.append(F.normalize(vertices[front] - joints_world[joint], dim=-1))
            centre = torch.where(right[:, None], centres[1], centres[0])
            gaze = torch.where(right[:, None], gazes[1], gazes[0])
            offset = F.normalize(points - centre, dim=-1)
            angle = torch.arccos((offset * gaze).sum(-1).clamp(-1, 1))
            up = torch.tensor([0.0, 1.0, 0.0]).expand_as(gaze)
            side = F.normalize(torch.linalg.cross(gaze, up), dim=-1)
            around = torch.atan2((offset * torch.linalg.cross(side, gaze)).sum(-1), (offset * side).sum(-1))
            fibres = _lookup([_PORES], around * (1 / math.pi) + off[6], angle * 0.05)[0]
            iris_angle, pupil_angle = self.config.iris_angle, self.config.pupil_angle
            radial = ((angle - pupil_angle) / (iris_angle - pupil_angle)).clamp(0, 1)
            iris = p["iris"].view(3, 1) * (
                (1 + 0.35 * fibres) * (1.25 - 0.55 * _smoothstep(0.55, 1.0, radial))
            )
            colour = torch.where(angle < iris_angle, iris, albedo.index_select(1, which))
            albedo.index_copy_(
                1, which, torch.where(angle < pupil_angle, torch.full_like(colour, 0.01), colour)
            )

        # Lashes and lid lines: lid pixels right above (upper lid) or below (lower lid) the eyeball; worked
        # out in a crop around the visible eyeballs.
        if not len(which):
            return albedo
        reach = max(1, round(resolution / 128))
        margin = 4 * reach + 3
        eye_pixels = pixels.index_select(0, which)
        rows, cols = eye_pixels // resolution, eye_pixels % resolution
        r0, r1 = max(0, int(rows.min()) - margin), min(resolution, int(rows.max()) + margin + 1)
        c0, c1 = max(0, int(cols.min()) - margin), min(resolution, int(cols.max()) + margin + 1)
        kind = _EYE_KIND[labels[r0:r1, c0:c1]][None, None]
        eyes_grid, lid_grid = (kind == 1).float(), (kind == 2).float()
        near_above = _shift_max(eyes_grid, reach + 1, downwards=True)
        crease = _shift_max(eyes_grid, 4 * reach + 2, downwards=True) - _shift_max(
            eyes_grid, 2 * reach + 1, True
        )
        rings = torch.cat(
            [
                near_above * lid_grid,
                _shift_max(eyes_grid, reach, downwards=False) * lid_grid * (1 - near_above),
                crease.clamp(0, 1) * lid_grid,
                _shift_max(lid_grid, 2 * reach, downwards=False) * eyes_grid,
            ],
            1,
        ).reshape(4, -1)
        row, col = pixels // resolution, pixels % resolution
        inside = ((row >= r0) & (row < r1) & (col >= c0) & (col < c1)).nonzero()[:, 0]
        crop = (row.index_select(0, inside) - r0) * (c1 - c0) + col.index_select(0, inside) - c0
        upper, lower, crease, lid_shadow = rings.index_select(1, crop).unbind(0)
        lashes = (0.9 * upper + 0.35 * lower).clamp(0, 1)
        shade = (1 - lashes * 0.92) * (1 - 0.25 * crease) * (1 - 0.3 * lid_shadow)
        albedo.index_copy_(1, inside, albedo.index_select(1, inside) * shade)
        return albedo

    # ------------------------------------------------------------------------------------------
    # Background

    def _background(self, latents: torch.Tensor, resolution: int) -> torch.Tensor:
        """Cluttered background (B,3,R,R) in linear RGB: a gradient, colour noise, random soft shapes and
        a random blur (two in five are in focus), made at a quarter of the resolution, plus a fine
        texture at full resolution."""
        batch = latents.shape[0]
        size = max(16, resolution // 4)
        f = lambda name: latents[:, _FIELD[name]]  # noqa: E731
        rand = torch.stack(
            [
                torch.rand(_NUM_SHAPES * 10 + 8, generator=torch.Generator().manual_seed(s))
                for s in (f("background_seed") * 2**31).long().tolist()
            ]
        )
        sat = 0.1 + 0.4 * rand[:, 0]
        value = 0.12 + 0.75 * f("background_value")
        colour_a = _hsv_to_rgb(f("background_hue_a"), sat, value) ** 2.2
        colour_b = _hsv_to_rgb(f("background_hue_b"), sat, value * (0.4 + 0.6 * rand[:, 1])) ** 2.2
        coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size - 0.5
        yy, xx = torch.meshgrid(coords, coords, indexing="ij")
        yy, xx = yy[None].expand(batch, -1, -1), xx[None].expand(batch, -1, -1)
        angle = f("background_angle") * 2 * math.pi
        t = xx * angle.cos()[:, None, None] + yy * angle.sin()[:, None, None] + 0.5
        noise = _lookup(
            [_LOW, _MID, _SPECKLE], xx * 0.7 + rand[:, 2, None, None], yy * 0.7 + rand[:, 3, None, None]
        ).transpose(0, 1)
        t = (t[:, None] + 0.25 * noise[:, :1]).clamp(0, 1)
        image = colour_a[:, :, None, None] * (1 - t) + colour_b[:, :, None, None] * t
        texture = 1 + 0.2 * noise[:, 1:2] + 0.12 * noise[:, 2:3] * rand[:, 4, None, None, None]
        image = image * texture

        clutter = f("background_clutter")
        for k in range(_NUM_SHAPES):
            r = rand[:, 8 + 10 * k : 18 + 10 * k]
            present = (r[:, 0] < clutter * 1.2).float()
            cx, cy = r[:, 1] * 1.4 - 0.7, r[:, 2] * 1.4 - 0.7
            half_w, half_h = 0.03 + 0.4 * r[:, 3] ** 2, 0.03 + 0.4 * r[:, 4] ** 2
            theta = (r[:, 5] - 0.5) * math.pi * (r[:, 6] < 0.5).float()
            c, s = theta.cos()[:, None, None], theta.sin()[:, None, None]
            dx, dy = xx - cx[:, None, None], yy - cy[:, None, None]
            lx, ly = dx * c + dy * s, -dx * s + dy * c
            hw, hh = half_w[:, None, None], half_h[:, None, None]
            box = torch.maximum(lx.abs() - hw, ly.abs() - hh)
            ellipse = (torch.sqrt((lx / hw) ** 2 + (ly / hh) ** 2) - 1) * torch.minimum(hw, hh)
            is_box = (r[:, 6] < 0.6).float()[:, None, None]
            distance = box * is_box + ellipse * (1 - is_box)
            softness = (0.004 + 0.03 * r[:, 7] ** 2)[:, None, None]
            alpha = (0.5 - distance / softness).clamp(0, 1) * (present * (0.5 + 0.5 * r[:, 8]))[:, None, None]
            hue = (f("background_hue_a") + (r[:, 9] - 0.5) * 0.4 + (k % 2) * 0.5) % 1.0
            shade = _hsv_to_rgb(hue, sat * (0.5 + r[:, 8]), (0.08 + 0.9 * r[:, 7]) * (0.5 + value)) ** 2.2
            stripes = (r[:, 9] > 0.8).float()[:, None, None]
            pattern = 1 - 0.5 * stripes * (torch.sin(lx * (20 + 60 * r[:, 3, None, None])) > 0).float()
            fill = shade[:, :, None, None] * pattern[:, None] * texture
            image = image + alpha[:, None] * (fill - image)

        blur = _smoothstep(0.4, 1.0, f("background_blur"))
        soft = _blur(image, 0.4 + 2.6 * size / 64)
        image = image + blur[:, None, None, None] * (soft - image)
        image = F.interpolate(image, size=(resolution, resolution), mode="bilinear", align_corners=False)
        # Fine texture (fabric, paper, foliage...) at full resolution, weaker when out of focus.
        full = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution
        scale = (0.5 + 1.5 * rand[:, 6])[:, None, None]
        fine = _lookup(
            [_MID, _SPECKLE],
            (full[None, None, :] * scale + rand[:, 7, None, None]).expand(-1, resolution, -1),
            (full[None, :, None] * scale + rand[:, 5, None, None]).expand(-1, -1, resolution),
        )
        amount = ((0.05 + 0.15 * rand[:, 4]) * (1 - 0.6 * blur))[:, None, None]
        grain = 1 + amount * (0.6 * fine[0] + 0.4 * fine[1])
        return image * grain[:, None]

    # ------------------------------------------------------------------------------------------
    # Lighting and camera

    def _lights(self, latents: torch.Tensor, cameras, rand: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        """Key, fill and rim lights: direction towards the light (B,3) in world space and colour times
        intensity (B,3)."""
        f = lambda name: latents[:, _FIELD[name]]  # noqa: E731
        cam2world = cameras.cam2world[:, :3, :3].float().cpu()

        def direction(azimuth: torch.Tensor, elevation: torch.Tensor, behind: bool = False) -> torch.Tensor:
            z = torch.cos(azimuth) * torch.cos(elevation) * (1 if behind else -1)
            cam = torch.stack([torch.sin(azimuth) * torch.cos(elevation), -torch.sin(elevation), z], -1)
            return F.normalize((cam2world @ cam[:, :, None])[:, :, 0], dim=-1)

        temperature = f("light_temperature")
        key_colour = _palette(LIGHT_COLOURS, temperature)
        fill_colour = _palette(LIGHT_COLOURS, (1 - temperature + 0.4 * (rand[:, 0] - 0.5)).clamp(0, 1))
        rim_colour = _palette(LIGHT_COLOURS, rand[:, 1])
        azimuth = (f("light_azimuth") - 0.5) * 2.6
        elevation = (f("light_elevation") - 0.3) * 1.4
        intensity = 0.7 + 0.7 * f("light_intensity")
        fill = intensity * 0.35 * f("fill_light")
        rim = intensity * 1.2 * _smoothstep(0.4, 1.0, f("rim_light"))
        fill_azimuth = -azimuth * 0.6 - torch.sign(azimuth) * 0.5 * rand[:, 2]
        rim_azimuth = torch.sign(rand[:, 4] - 0.5) * (0.5 + 0.9 * rand[:, 5])
        return [
            (direction(azimuth, elevation), key_colour * intensity[:, None]),
            (direction(fill_azimuth, (rand[:, 3] - 0.4) * 0.8), fill_colour * fill[:, None]),
            (direction(rim_azimuth, 0.2 + 0.5 * rand[:, 6], True), rim_colour * rim[:, None]),
        ]

    @staticmethod
    def _occlusion(depth: torch.Tensor, pixels: torch.Tensor, pixel_depth: torch.Tensor) -> torch.Tensor:
        """Screen-space ambient occlusion at the ``pixels`` (N,) of one depth map (H,W), 0 on background,
        whose depths are ``pixel_depth`` (N,), made at a quarter of the resolution: pixels behind their
        surroundings (eye sockets, nostrils, the mouth, the neck under the chin) see less light."""
        mask = (depth > 0).float()
        small = F.avg_pool2d(torch.stack([depth * mask, mask])[None], 4, ceil_mode=True)
        small = _blur(small, 1.5 * depth.shape[-1] / 256)
        around = F.interpolate(small, size=depth.shape, mode="bilinear", align_corners=False)
        around = around.reshape(2, -1).index_select(1, pixels)
        around = around[0] / around[1].clamp_min(1e-4)
        cavity = ((pixel_depth - around) * (1 / (0.012 * WORLD_UNITS_PER_METRE))).clamp(0, 3)
        return 1 / (1 + 1.2 * cavity)

    @staticmethod
    def _cast_shadow(
        vertices: torch.Tensor,
        points: torch.Tensor,
        normals: torch.Tensor,
        light: torch.Tensor,
        size: int = 80,
    ) -> torch.Tensor:
        """Visibility (N,) in [0,1] of the light ``light`` (3,) (world direction towards it) at ``points``
        (N,3) with ``normals`` (3,N): a shadow map of the vertices (V,3) seen from the light (their highest
        point along it per cell, the gaps between vertices closed by a 3x3 maximum), compared with a bias
        that grows with the surface's slope to the light."""
        helper = (
            torch.tensor([0.0, 1.0, 0.0]) if float(light[1].abs()) < 0.9 else torch.tensor([1.0, 0.0, 0.0])
        )
        u = F.normalize(torch.linalg.cross(light, helper), dim=0)
        basis = torch.stack([u, torch.linalg.cross(light, u), light])
        local, target = vertices @ basis.T, points @ basis.T
        low = local[:, :2].min(0).values
        cell = float((local[:, :2].max(0).values - low).max()) / (size - 1)
        ij = ((local[:, :2] - low) / cell).round().long().clamp(0, size - 1)
        heights = torch.full((size * size,), -1e9).scatter_reduce(
            0, ij[:, 1] * size + ij[:, 0], local[:, 2], reduce="amax"
        )
        heights = F.max_pool2d(heights.view(1, 1, size, size), 3, stride=1, padding=1)
        cosine = _dot(normals, light.view(3, 1)).abs().clamp_min(0.15)
        height = target[:, 2] + 0.01 + 3.5 * cell * torch.sqrt(1 - cosine * cosine) / cosine
        # Four comparisons a cell apart, averaged: soft, less blocky shadow edges.
        jitter = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]]) * 0.75
        grid = (((target[None, :, :2] - low) / cell + jitter[:, None]) / (size - 1)) * 2 - 1
        occluder = F.grid_sample(heights, grid[None], align_corners=True)[0, 0]
        return 1 - ((occluder - height) / (2 * cell)).clamp(0, 1).mean(0)

    def _shade(
        self,
        p: dict[str, torch.Tensor],
        lights: list[tuple[torch.Tensor, torch.Tensor]],
        albedo: torch.Tensor,
        w: dict[str, torch.Tensor],
        normals: torch.Tensor,
        tangent: torch.Tensor,
        view: torch.Tensor,
        occlusion: torch.Tensor,
        environment: torch.Tensor,
        shadow: torch.Tensor,
    ) -> torch.Tensor:
        """Linear radiance (3,N) of one sample's pixels; ``shadow`` (N,): the key light's visibility."""
        n_dot_v = _dot(normals, view)
        normals = torch.where(n_dot_v < 0, -normals, normals)
        n_dot_v = n_dot_v.abs()
        sky = 0.6 + 0.4 * normals[1]  # world +y is up
        irradiance = (p["ambient"] * environment).view(3, 1) * (sky * occlusion)
        strength = p["specular"] * (0.4 + p["oiliness"] * w["oil"])
        strength = strength * (w["bare_skin"] + 1.3 * w["lips"]) * (1 + 4 * (1 - n_dot_v) ** 5)
        hair_strength = p["hair_shine"] * w["hair"]
        wrap = w["skin"][None] * torch.tensor([0.3, 0.15, 0.1]).view(3, 1)  # red light scatters furthest
        direct_occlusion = occlusion.sqrt()
        eyes = (w["eyes"] > 0).nonzero()[:, 0]
        hair = (w["hair"] > 0).nonzero()[:, 0]
        if len(hair):
            hair_strength = hair_strength.index_select(0, hair)
            hair_tangent, hair_albedo = tangent.index_select(1, hair), albedo.index_select(1, hair)
        specular = torch.zeros_like(albedo)
        for k, (direction, colour) in enumerate(lights):
            if not bool(colour.max() > 0):
                continue
            light, colour = direction.view(3, 1), colour.view(3, 1)
            n_dot_l = _dot(normals, light)
            lit = ((n_dot_l + wrap) / (1 + wrap)).clamp_min(0)
            visible = direct_occlusion * shadow if k == 0 else direct_occlusion
            irradiance = irradiance + colour * (lit * visible)
            if k == 1:  # the fill light is soft: no highlight
                continue
            half = _unit(light + view)
            n_dot_h = _dot(normals, half).clamp(0, 1)
            shine = strength * n_dot_h.pow(p["shininess"])
            if len(eyes):
                shine.index_copy_(0, eyes, 0.8 * n_dot_h.index_select(0, eyes).pow(300.0))
            facing = (n_dot_l > 0).float() * visible
            specular = specular + colour * (facing * shine)
            if len(hair):
                t_dot_h = _dot(hair_tangent, half.index_select(1, hair))
                sin2 = (1 - t_dot_h**2).clamp(0, 1)
                kajiya = hair_strength * sin2.pow(16.0) * facing.index_select(0, hair)
                specular.index_add_(1, hair, colour * (kajiya * (0.5 + 4 * hair_albedo)))
        return albedo * irradiance + specular

    def forward(self, scene: Scene) -> GeneratorOutput:
        """Render images (B,3,H,W) in [0,1].

        Samples are shaded one at a time over their foreground pixels: the tensors are small (they stay
        in cache), so each piece of the batch runs on one intra-op thread, the pieces side by side on
        the CPU cores (`parallel_map`), which avoids the synchronisation cost of many small parallel ops
        (large on shared CPUs)."""
        self._static(scene.head)  # the shared tables, made before the threads start
        _noise_bank()
        pieces = parallel_map(lambda samples: self._render(scene, samples), split(scene.latents.shape[0]))
        return GeneratorOutput(torch.cat(pieces))

    def _render(self, scene: Scene, samples: slice) -> torch.Tensor:
        """Images (b,3,H,W) of the ``samples`` of the scene."""
        latents = scene.latents[samples].float().cpu()
        resolution = scene.resolution
        frag = scene.annotations.fragments
        fragments = Fragments(
            frag.face_index[samples].cpu(), frag.barycentric[samples].cpu(), frag.depth[samples].cpu()
        )
        labels = scene.annotations.segmentation[samples].cpu()
        cameras = scene.cameras[samples]
        batch, hw = labels.shape[0], resolution * resolution
        rand = torch.stack(
            [
                torch.rand(24, generator=torch.Generator().manual_seed(s))
                for s in (latents[:, _FIELD["texture_seed"]] * 2**31).long().tolist()
            ]
        )
        params = self._unpack(latents)
        index = (fragments.face_index >= 0).reshape(-1).nonzero()[:, 0]
        starts = torch.searchsorted(index, torch.arange(batch + 1) * hw).tolist()

        # Per-pixel geometry: world normals, hair strand directions, rest-pose maps.
        vertices = scene.vertices_world[samples].float().cpu()
        faces = scene.head.faces.cpu()
        rest = scene.head.v_template.float().cpu()
        static, tangent_rest = self._static(scene.head)
        rotation = _rotation_rest_to_world(rest, vertices)
        dynamic = torch.cat(
            [vertex_normals(vertices, faces), torch.einsum("vj,bij->bvi", tangent_rest, rotation)], -1
        )
        corners = faces.index_select(0, fragments.face_index.view(-1).index_select(0, index)).T.contiguous()
        weights = fragments.barycentric.view(-1, 3).index_select(0, index).T.contiguous()
        per_sample = corners + (index // hw) * vertices.shape[1]
        geometry = _interpolate(dynamic.view(-1, dynamic.shape[-1]), per_sample, weights)
        st_all = _interpolate(static, corners, weights)
        rays_all = cameras.ray_directions(resolution).float().cpu().reshape(batch, hw, 3)
        lights = self._lights(latents, cameras, rand[:, 8:16])
        background = self._background(latents, resolution)
        environment = background.mean((2, 3))
        environment = 0.5 + 0.5 * (environment / environment.mean(1, keepdim=True).clamp_min(1e-3)).clamp(
            0, 3
        )

        images = []
        for b in range(batch):
            rows = slice(starts[b], starts[b + 1])
            pixels = index[rows] - b * hw
            p = {key: value[b] for key, value in params.items()}
            p["pores"] = p["pores"] * min(1.0, resolution / 256)  # finer than a pixel below 256 px
            off = rand[b, :8].tolist()
            lab = labels[b].reshape(-1).index_select(0, pixels)
            rays = rays_all[b].index_select(0, pixels)
            depth = fragments.depth[b]
            pixel_depth = depth.reshape(-1).index_select(0, pixels)
            albedo, w = self._albedo(p, st_all[:, rows], lab, off)
            albedo = self._paint_eyes(
                scene,
                samples.start + b,
                pixel_depth,
                rays,
                labels[b],
                pixels,
                lab,
                albedo,
                p,
                off,
            )
            normals = _unit(geometry[:3, rows])
            points = cameras.centers[b].float().cpu() + pixel_depth[:, None] * rays
            shadow = self._cast_shadow(vertices[b], points, normals, lights[0][0][b])
            radiance = self._shade(
                p,
                [(direction[b], colour[b]) for direction, colour in lights],
                albedo,
                w,
                normals,
                _unit(geometry[3:, rows]),
                -_unit(rays.T),
                self._occlusion(depth, pixels, pixel_depth),
                environment[b],
                shadow,
            )
            image = background[b] * p["background_light"]
            image.view(3, -1).index_copy_(1, pixels, radiance)
            images.append(self._camera(image, latents[b], rand[b, 16:]))
        return torch.stack(images)

    @staticmethod
    def _camera(image: torch.Tensor, latents: torch.Tensor, rand: torch.Tensor) -> torch.Tensor:
        """One image (3,H,W) through the camera: exposure, white balance, vignetting, lens blur, a soft
        highlight shoulder, gamma and sensor noise."""
        f = lambda name: float(latents[_FIELD[name]])  # noqa: E731
        resolution = image.shape[-1]
        gains = (1 + 0.08 * (rand[:3] - 0.5)) * 2.0 ** (1.0 * f("exposure") - 0.4)
        coords = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution - 0.5
        vignette = 1 - (0.6 * float(rand[3])) * (coords[None, :] ** 2 + coords[:, None] ** 2)
        image = image * (gains.view(3, 1, 1) * vignette)
        soft = _blur(image[None], 0.7 * resolution / 256)[0]
        image = torch.lerp(image, soft, 0.25 + 0.75 * f("camera_blur") ** 1.5)
        # Highlight shoulder: linear up to 0.8, then a parabola that reaches 1 with zero slope at 1.2.
        over = (image - 0.8).clamp(0, 0.4)
        image = (image.clamp(max=0.8) + over - over * over * 1.25).clamp_min(0) ** (1 / 2.2)
        sigma = 0.002 + 0.012 * f("sensor_noise") ** 2
        generator = torch.Generator().manual_seed(int(float(rand[4]) * 2**31))
        noise = torch.randn(3, resolution, resolution, generator=generator)
        return (image + sigma * noise).clamp(0, 1)
