"""`MeshFaceGenerator`: renders the head mesh itself, so every pixel's label is exact.

Appearance (skin tone and texture, hair/brow/iris/lip colours, light, background) is a deterministic
function of a latent vector of uniform numbers, so a sample is reproducible from its latents alone.
Shading is Lambert + Blinn-Phong in linear RGB with a gamma-encoded output.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import register_to_config
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401  (see FaceGenerator's docstring)

from ..constants import CLASS_ID
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

# Meaning of each latent coordinate (all U(0,1)).
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
)
_FIELD = {name: i for i, name in enumerate(LATENT_FIELDS)}


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
    corners = vertices[:, faces]  # (B,F,3,3)
    face_normals = torch.linalg.cross(
        corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0]
    )
    normals = torch.zeros_like(vertices)
    for k in range(3):
        normals.index_add_(1, faces[:, k], face_normals)
    return F.normalize(normals, dim=-1)


def _smooth_noise(resolution: int, generators: list[torch.Generator | None], cells: int) -> torch.Tensor:
    """Value noise (B,1,H,W) in [-1,1]: a random grid of ``cells`` x ``cells`` upsampled bicubically."""
    grids = [torch.rand(1, cells, cells, generator=g) * 2 - 1 for g in generators]
    return F.interpolate(
        torch.stack(grids), size=(resolution, resolution), mode="bicubic", align_corners=False
    )


class MeshFaceGenerator(FaceGenerator):
    """Shaded rendering of the head mesh with sampled skin, hair, eyes, lighting and background.

    Args:
        latent_dim: size of the appearance latent (at least the number of appearance fields).
        iris_angle / pupil_angle: half-angles (radians) of the iris and pupil seen from the eye centre.
        skin_texture_strength: amplitude of the skin albedo noise.
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

    def sample_latents(self, generators: list[torch.Generator | None]) -> torch.Tensor:
        return torch.stack([torch.rand(self.config.latent_dim, generator=g) for g in generators])

    def _albedo(self, scene: Scene, latents: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-pixel linear albedo (B,H,W,3) from class labels and the appearance latents."""
        skin = _palette(tuple(map(tuple, self.skin_tones.tolist())), latents[:, _FIELD["skin_tone"]])
        redness = 0.9 + 0.2 * latents[:, _FIELD["skin_redness"]]
        skin = skin * torch.stack([redness, torch.ones_like(redness), 2 - redness], -1)
        hair = _palette(HAIR_COLOURS, latents[:, _FIELD["hair_colour"]])
        iris = _palette(IRIS_COLOURS, latents[:, _FIELD["iris_colour"]])
        lip_tint = 0.55 + 0.25 * latents[:, _FIELD["lip_tint"]]
        lips = skin * torch.stack([torch.ones_like(lip_tint), lip_tint, lip_tint], -1)

        albedo = skin[:, None, None].expand(*labels.shape, 3).clone()

        def paint(class_names: tuple[str, ...], colour: torch.Tensor) -> None:
            mask = torch.zeros_like(labels, dtype=torch.bool)
            for name in class_names:
                mask |= labels == CLASS_ID[name]
            albedo[mask] = colour[:, None, None].expand(*labels.shape, 3)[mask]

        paint(("scalp",), hair)
        paint(("left_eyebrow", "right_eyebrow"), 0.25 * skin + 0.75 * hair)
        paint(("upper_lip", "lower_lip"), lips)
        paint(("inner_mouth",), torch.tensor(INNER_MOUTH).expand_as(skin))
        self._paint_eyes(scene, labels, albedo, iris)
        return albedo

    def _paint_eyes(
        self, scene: Scene, labels: torch.Tensor, albedo: torch.Tensor, iris: torch.Tensor
    ) -> None:
        """Sclera, iris and pupil by the angle between a pixel's eyeball point and the gaze axis."""
        depth = scene.annotations.fragments.depth.cpu()
        rays = scene.cameras.ray_directions(scene.resolution).to(depth)
        origins = scene.cameras.centers.to(depth)
        joints_world = self.head_to_world(scene.head_output.joints).float().cpu()
        vertices = scene.vertices_world.float().cpu()
        sclera = torch.tensor(SCLERA)
        for eye, joint in (("left_eyeball", 3), ("right_eyeball", 4)):
            mask = labels == CLASS_ID[eye]
            if not mask.any():
                continue
            batch_ids = torch.arange(labels.shape[0])[:, None, None].expand_as(mask)[mask]
            points = origins[batch_ids] + depth[mask][:, None] * rays[mask]
            eyeball = scene.head.vertex_labels.cpu() == CLASS_ID[eye]
            rest_z = torch.where(
                eyeball,
                scene.head.v_template[:, 2].cpu(),
                torch.full_like(eyeball, -1e9, dtype=torch.float32),
            )
            centre = joints_world[:, joint]
            gaze = F.normalize(vertices[:, rest_z.argmax()] - centre, dim=-1)
            offset = F.normalize(points - centre[batch_ids], dim=-1)
            angle = torch.arccos((offset * gaze[batch_ids]).sum(-1).clamp(-1, 1))[:, None]
            colour = torch.where(angle < self.config.iris_angle, iris[batch_ids], sclera)
            albedo[mask] = torch.where(angle < self.config.pupil_angle, torch.full_like(colour, 0.01), colour)

    def _background(self, latents: torch.Tensor, resolution: int, noise: torch.Tensor) -> torch.Tensor:
        """A two-colour gradient with soft noise (B,H,W,3), linear RGB."""
        sat = torch.full_like(latents[:, 0], 0.35)
        value = 0.15 + 0.7 * latents[:, _FIELD["background_value"]]
        colour_a = _hsv_to_rgb(latents[:, _FIELD["background_hue_a"]], sat, value) ** 2.2
        colour_b = _hsv_to_rgb(latents[:, _FIELD["background_hue_b"]], sat, value * 0.6) ** 2.2
        angle = latents[:, _FIELD["background_angle"]] * 2 * math.pi
        coords = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution - 0.5
        yy, xx = torch.meshgrid(coords, coords, indexing="ij")
        t = (xx[None] * angle.cos()[:, None, None] + yy[None] * angle.sin()[:, None, None] + 0.5).clamp(0, 1)
        t = (t + 0.15 * noise[:, 0]).clamp(0, 1)[..., None]
        return colour_a[:, None, None] * (1 - t) + colour_b[:, None, None] * t

    def forward(self, scene: Scene) -> GeneratorOutput:
        """Render images (B,3,H,W) in [0,1]."""
        latents = scene.latents.float().cpu()
        fragments, labels = scene.annotations.fragments, scene.annotations.segmentation.cpu()
        resolution = scene.resolution
        seeds = (latents[:, _FIELD["texture_seed"]] * 2**31).long().tolist()
        texture_generators = [torch.Generator().manual_seed(s) for s in seeds]
        coarse = _smooth_noise(resolution, texture_generators, 6)
        fine = _smooth_noise(resolution, texture_generators, max(resolution // 6, 8))

        albedo = self._albedo(scene, latents, labels)
        skin_like = (labels != CLASS_ID["inner_mouth"])[..., None]
        grain = 1 + self.config.skin_texture_strength * (0.6 * coarse + 0.4 * fine)[:, 0, ..., None]
        albedo = torch.where(skin_like, albedo * grain, albedo)

        vertices = scene.vertices_world.float().cpu()
        faces = scene.head.faces.cpu()
        normals = F.normalize(fragments.interpolate(vertex_normals(vertices, faces), faces).cpu(), dim=-1)
        view = -F.normalize(scene.cameras.ray_directions(resolution), dim=-1)
        normals = torch.where(((normals * view).sum(-1, keepdim=True) < 0), -normals, normals)

        # Light direction in camera space (towards the light), moved to world space.
        azimuth = (latents[:, _FIELD["light_azimuth"]] - 0.5) * 2.4
        elevation = (latents[:, _FIELD["light_elevation"]] - 0.3) * 1.4
        light_cam = torch.stack(
            [
                torch.sin(azimuth) * torch.cos(elevation),
                -torch.sin(elevation),
                -torch.cos(azimuth) * torch.cos(elevation),
            ],
            dim=-1,
        )
        light = F.normalize(
            light_cam[:, None] @ scene.cameras.cam2world[:, :3, :3].transpose(1, 2).cpu().float(), dim=-1
        )
        light = light[:, :, None]  # (B,1,1,3)
        intensity = (0.7 + 0.8 * latents[:, _FIELD["light_intensity"]])[:, None, None, None]
        ambient = (0.15 + 0.3 * latents[:, _FIELD["ambient"]])[:, None, None, None]
        diffuse = (normals * light).sum(-1, keepdim=True).clamp_min(0)
        half = F.normalize(light + view, dim=-1)
        shininess = 10 + 40 * latents[:, _FIELD["roughness"]][:, None, None, None]
        specular_strength = (0.03 + 0.15 * latents[:, _FIELD["specular"]])[:, None, None, None]
        specular = specular_strength * (normals * half).sum(-1, keepdim=True).clamp_min(0) ** shininess
        specular = specular * (labels != CLASS_ID["scalp"])[..., None]
        shaded = albedo * (ambient + intensity * diffuse) + intensity * specular

        background = self._background(latents, resolution, coarse)
        image = torch.where(fragments.foreground.cpu()[..., None], shaded, background)
        image = image.clamp(0, 1) ** (1 / 2.2)
        return GeneratorOutput(image.permute(0, 3, 1, 2).contiguous())
