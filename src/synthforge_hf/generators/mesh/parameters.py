"""The appearance latent of the mesh renderer: its named fields (all U(0,1)), the palettes they pick
from, and the per-sample parameters (colours, amounts, material) they map to."""

from __future__ import annotations

import torch

from .maths import Colour, palette, smoothstep

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


def latent_fields(latents: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each named field of a batch of latents (B,latent_dim), as a (B,) view."""
    return {name: latents[:, index] for name, index in _FIELD.items()}


def latent_value(latent: torch.Tensor, name: str) -> float:
    """One sample's field ``name`` of its latent vector (latent_dim,)."""
    return float(latent[_FIELD[name]])


def seeded_uniforms(seed_field: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` uniform numbers per sample (B,count), from a generator seeded by the sample's
    ``*_seed`` field (B,) in [0,1)."""
    return torch.stack(
        [
            torch.rand(count, generator=torch.Generator().manual_seed(seed))
            for seed in (seed_field * 2**31).long().tolist()
        ]
    )


def appearance_parameters(
    latents: torch.Tensor, skin_tones: tuple[Colour, ...], skin_texture_strength: float
) -> dict[str, torch.Tensor]:
    """Per-sample appearance parameters (B,) or (B,3) from the latents (B,latent_dim)."""
    field = latent_fields(latents)
    skin = palette(skin_tones, field["skin_tone"])
    redness = 0.9 + 0.2 * field["skin_redness"]
    olive = 0.12 * (field["skin_olive"] - 0.5)
    skin = skin * torch.stack([redness, 1 + olive, (2 - redness) * (1 - olive)], -1)
    hair = palette(HAIR_COLOURS, field["hair_colour"])
    lip_tint = 0.5 + 0.25 * field["lip_tint"]
    lips = skin * torch.stack([0.9 * torch.ones_like(lip_tint), lip_tint, lip_tint * 1.05], -1) * 0.75
    return {
        "skin": skin,
        "hair": hair,
        "lips": lips,
        "brow": torch.minimum(hair, 0.3 * skin) * (0.35 + 0.3 * field["brow_density"])[:, None],
        "stubble": torch.minimum(hair, 0.45 * skin),
        "iris": palette(IRIS_COLOURS, field["iris_colour"]),
        "sclera": torch.tensor(SCLERA) * (0.75 + 0.3 * field["sclera"])[:, None],
        "redness": 0.2 + 0.8 * field["skin_redness"],
        "blotches": field["blotches"],
        "freckles": smoothstep(0.6, 1.0, field["freckles"]),
        "pores": (0.3 + 0.7 * field["pores"]) * skin_texture_strength,
        # About half the faces are clean-shaven; the rest range from light stubble to a full beard.
        "beard": smoothstep(0.5, 1.0, field["beard"]),
        "brow_density": field["brow_density"],
        "hair_density": smoothstep(0.05, 0.3, field["hair_density"]),
        "ambient": 0.08 + 0.22 * field["ambient"],
        "shininess": 12 + 70 * field["roughness"],
        "specular": 0.03 + 0.22 * field["specular"],
        "oiliness": 0.9 * field["oiliness"],
        "hair_shine": 0.04 + 0.3 * field["hair_shine"],
        "background_light": 0.8 + 0.5 * field["light_intensity"],
    }
