"""Albedo of one sample's face pixels: skin tone with regional colour, blotches, freckles and pores;
stubble and beards; brows; scalp hair; the inner mouth and the sclera (irises and lids: `eyes`).

Pixels are packed: a value per foreground pixel of the sample, (N,) or (3,N) for colours. Textures
are read from the noise bank at rest-pose coordinates, so they move with the skin."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...constants import CLASS_ID
from .eyes import eyeball_mask
from .geometry import REST_MAPS
from .maths import column, smoothstep
from .noise import (
    BROW_OFFSETS,
    HAIR_OFFSETS,
    LOW,
    MID,
    PORES,
    SKIN_OFFSETS,
    SKIN_PERIOD,
    SPECKLE,
    sample_noise,
)

INNER_MOUTH = (0.20, 0.03, 0.03)
# Albedo change (rows: R, G, B) per unit of the skin tints (columns: redness, under-eye shadow, freckles).
_TINT_EFFECT = ((0.30, -0.16, -0.28), (-0.08, -0.19, -0.36), (-0.06, -0.12, -0.45))


@dataclass
class _Canvas:
    """What the albedo's layers read at one sample's pixels: its appearance ``params``, the rest-pose
    ``maps`` (`REST_MAPS`, (N,) each), its texture ``offsets``, the skin ``noise`` (pores, speckle, mid,
    low; (N,) each), and the eyeball and skin-like (neither eyeball nor inner mouth) weights (N,)."""

    params: dict[str, torch.Tensor]
    maps: dict[str, torch.Tensor]
    offsets: list[float]
    noise: tuple[torch.Tensor, ...]
    eyes: torch.Tensor
    skin_like: torch.Tensor


def _at(values: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """Packed ``values`` (N,) or (C,N) at some of the pixels (their positions (M,)) -> (M,) or (C,M)."""
    return values.index_select(-1, pixels)


def _skin(canvas: _Canvas, ears: torch.Tensor) -> torch.Tensor:
    """Skin and lips (3,N): regional redness and blotches, under-eye shadow, freckles, low-frequency
    tone and pores."""
    params, maps = canvas.params, canvas.maps
    pores, speckle, mid, low = canvas.noise
    red = (
        params["redness"] * (0.6 * maps["cheeks"] + 0.5 * maps["nose"] + 0.3 * ears)
        + (0.35 * params["blotches"]) * mid
    )
    freckle = params["freckles"] * smoothstep(1.3, 2.2, 0.8 * speckle + 0.6 * mid)
    freckle = (freckle * (0.2 + maps["cheeks"] + maps["nose"])).clamp(0, 1)
    tint = torch.stack([red, maps["under_eye"], freckle])  # (3,N)
    change = torch.tensor(_TINT_EFFECT) @ tint
    grain = 1 + 0.07 * low + params["pores"] * pores
    lips = maps["lips"]
    albedo = torch.lerp(column(params["skin"]).expand(3, lips.shape[0]), column(params["lips"]), lips[None])
    return albedo * (grain * (1 + change))


def _beard(canvas: _Canvas, albedo: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stubble or a beard on the lower face (not on the lips), a fine, even shadow that thickens with
    the amount: the albedo (3,N) with it, and its cover (N,)."""
    pores, _, mid, _ = canvas.noise
    amount = canvas.params["beard"]
    growth = amount * (0.45 + 0.5 * amount) * (0.8 + 0.2 * pores + 0.15 * amount * mid)
    beard = (growth * canvas.maps["beard_zone"] * canvas.skin_like * (1 - canvas.maps["lips"])).clamp(0, 1)
    return torch.lerp(albedo, column(canvas.params["stubble"]), beard[None]), beard


def _paint_brows(canvas: _Canvas, albedo: torch.Tensor, facial_hair: torch.Tensor) -> None:
    """Brows into ``albedo`` (3,N) and ``facial_hair`` (N,), in place: strokes along the brow (outwards
    and a little up), soft edges."""
    params, maps, offsets = canvas.params, canvas.maps, canvas.offsets
    brow_weight = maps["brow"]
    on_brow = (brow_weight > 0).nonzero()[:, 0]
    if not len(on_brow):
        return
    across = _at(maps["x"], on_brow).abs()
    strokes = sample_noise(
        [SPECKLE],
        across * (0.7 / SKIN_PERIOD) + offsets[BROW_OFFSETS[0]],
        (_at(maps["y"], on_brow) - 0.35 * across) * (6.0 / SKIN_PERIOD) + offsets[BROW_OFFSETS[1]],
    )[0]
    brow = _at(brow_weight, on_brow) * (0.75 + 0.5 * params["brow_density"] + 0.25 * strokes)
    brow = brow.clamp(0, 1) * (1 - _at(canvas.eyes, on_brow))
    albedo.index_copy_(1, on_brow, torch.lerp(_at(albedo, on_brow), column(params["brow"]), brow[None]))
    facial_hair.index_copy_(0, on_brow, torch.maximum(_at(facial_hair, on_brow), brow))


def _paint_scalp_hair(canvas: _Canvas, albedo: torch.Tensor) -> torch.Tensor:
    """Hair on the scalp into ``albedo`` (3,N), in place: strands, a hairline that thins out, bald
    heads with stubble. Returns the hair's cover (N,)."""
    params, maps, offsets = canvas.params, canvas.maps, canvas.offsets
    scalp = maps["scalp"]
    coverage = torch.zeros_like(scalp)
    on_scalp = (scalp > 0).nonzero()[:, 0]
    if not len(on_scalp):
        return coverage
    pores, _, _, low = canvas.noise
    strand_noise = sample_noise(
        [PORES, MID],
        _at(maps["hair_across"], on_scalp) + offsets[HAIR_OFFSETS[0]],
        _at(maps["hair_along"], on_scalp) + offsets[HAIR_OFFSETS[1]],
    )
    strands = 0.65 * strand_noise[0] + 0.35 * strand_noise[1]
    weight = _at(scalp, on_scalp)
    density = params["hair_density"]
    cover = ((weight - 0.5) * 3.0 + 0.25 * strands + 0.6).clamp(0, 1) * density
    cover = cover * _at(canvas.skin_like, on_scalp)
    bald = weight * ((1 - density) * (0.35 + 0.1 * _at(pores, on_scalp)))
    under_hair = torch.lerp(_at(albedo, on_scalp), column(params["stubble"]), bald[None])
    hair = column(params["hair"]) * ((1 + 0.45 * strands).clamp_min(0.2) * (1 + 0.25 * _at(low, on_scalp)))
    albedo.index_copy_(1, on_scalp, torch.lerp(under_hair, hair, cover[None]))
    coverage.index_copy_(0, on_scalp, cover)
    return coverage


def paint_albedo(
    params: dict[str, torch.Tensor], rest_maps: torch.Tensor, labels: torch.Tensor, offsets: list[float]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Textured albedo (3,N) of one sample's pixels and the surface weights shading needs (N,), from
    the rest-pose maps ``rest_maps`` (len(REST_MAPS),N) at the pixels, their labels (N,), the
    sample's appearance ``params`` and texture ``offsets``."""
    maps = dict(zip(REST_MAPS, rest_maps.unbind(0), strict=True))
    eyes = eyeball_mask(labels).float()
    mouth = (labels == CLASS_ID["inner_mouth"]).float()
    ears = ((labels == CLASS_ID["left_ear"]) | (labels == CLASS_ID["right_ear"])).float()
    lips = maps["lips"]
    skin_like = 1 - eyes - mouth
    facial_hair = torch.zeros_like(lips)  # brow and beard cover: matte, no skin highlight
    noise = sample_noise(
        [PORES, SPECKLE, MID, LOW],
        maps["skin_u"] + offsets[SKIN_OFFSETS[0]],
        maps["y"] * (1 / SKIN_PERIOD) + offsets[SKIN_OFFSETS[1]],
    ).unbind(0)
    canvas = _Canvas(params, maps, offsets, noise, eyes, skin_like)

    albedo = _skin(canvas, ears)
    if params["beard"] > 0:
        albedo, facial_hair = _beard(canvas, albedo)
    _paint_brows(canvas, albedo, facial_hair)
    coverage = _paint_scalp_hair(canvas, albedo)

    albedo = torch.where(mouth.bool(), torch.tensor(INNER_MOUTH).view(3, 1), albedo)
    albedo = torch.where(eyes.bool(), column(params["sclera"]), albedo)
    skin = skin_like * (1 - coverage)
    pores = noise[0]
    weights = {
        "skin": skin * (1 - lips),
        "bare_skin": skin * (1 - lips) * (1 - facial_hair),
        "lips": lips * skin_like,
        "hair": coverage,
        "eyes": eyes,
        "oil": (maps["oil"] + 0.25 * pores).clamp(0, 2),
    }
    return albedo, weights
