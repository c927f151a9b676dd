"""Next3D's `TriPlaneGenerator`: the networks assembled with the official state-dict layout.

A latent ``z`` and camera ``c`` are mapped to 28 w's (14 for the tri-plane networks, 14 for the neural
texture). The texture StyleGAN2 paints a 32-channel UV texture; it is rasterized onto an orthographic
front view of the FLAME mesh; the mouth region is re-synthesised by the mouth StyleUNet and pasted back;
the neural-blending StyleUNet refines the front view; the result is alpha-blended into the front plane
of the static tri-plane StyleGAN2 (the released fix: the side and top planes stay static; ``"all"``
blends the side and top views too, as in the original paper code). The tri-planes are volume-rendered
(OSG decoder, importance sampling, Mip-NeRF compositing) to a 64 px feature image, which the
super-resolution network turns into the 512 px image. A second, higher-resolution pass renders depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...rendering.cameras import ORTH_SCALE, ORTH_SHIFT, Cameras
from .rendering import Generators, OSGDecoder, render_triplanes
from .stylegan2 import StyleGAN2Generator
from .styleunet import StyleUNetGenerator
from .superresolution import OFFICIAL_BLOCK_CHANNELS, SuperresolutionHybrid8XDC
from .texture import FRONT_VIEW, ORTHOGRAPHIC_VIEWS, dense_grid_triangles, mouth_boxes, sample_texture_views

SUPERRESOLUTION_MODULE = "SuperresolutionHybrid8XDC"
FEATURE_CHANNELS = 32  # decoded per sample point (the first 3 are the raw RGB), fed to the super-resolution
# Rendering settings of the FFHQ-512 model (the official training script's 'ffhq' configuration).
FFHQ_RENDERING_KWARGS = {
    "image_resolution": 512,
    "disparity_space_sampling": False,
    "clamp_mode": "softplus",
    "superresolution_module": "training_avatar_texture.superresolution.SuperresolutionHybrid8XDC",
    "c_gen_conditioning_zero": False,
    "c_scale": 1.0,
    "superresolution_noise_mode": "none",
    "decoder_lr_mul": 1.0,
    "sr_antialias": True,
    "depth_resolution": 48,
    "depth_resolution_importance": 48,
    "ray_start": 2.25,
    "ray_end": 3.3,
    "box_warp": 1,
    "avg_camera_radius": 2.7,
    "avg_camera_pivot": [0, 0, 0.2],
}
# Keyword arguments of the official networks that change nothing in these implementations:
# the modulated convolution is always one grouped convolution, and the super-resolution's own width
# arguments are unused by the official class as well.
NO_EFFECT_KWARGS = ("fused_modconv_default",)
NO_EFFECT_SR_KWARGS = ("fused_modconv_default", "channel_base", "channel_max", "num_fp16_res", "conv_clamp")
BLEND_MODES = ("front", "all")


@dataclass
class TriPlaneOutput:
    """``image`` (B,3,R,R) and ``image_raw`` (B,3,r,r) in [-1, 1]; ``image_depth`` (B,1,d,d) distance along
    the unit rays (world units) from the depth pass; ``features`` (B,C,r,r) the rendered feature image;
    ``coarse_points`` (B,N,3) and ``coarse_sigma`` (B,N,1) the coarse samples of the feature pass."""

    image: torch.Tensor
    image_raw: torch.Tensor
    image_depth: torch.Tensor
    features: torch.Tensor
    coarse_points: torch.Tensor
    coarse_sigma: torch.Tensor


def _without(kwargs: dict, names: tuple[str, ...]) -> dict:
    return {k: v for k, v in kwargs.items() if k not in names}


def unit_rays(cameras: Cameras, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """EG3D's ray sampler: origins (B,R*R,3) at the camera centres and unit directions (B,R*R,3) through
    pixel centres, row-major."""
    directions = F.normalize(cameras.ray_directions(resolution), dim=-1).reshape(len(cameras), -1, 3)
    origins = cameras.centers.float()[:, None].expand_as(directions)
    return origins, directions


class TriPlaneGenerator(nn.Module):
    """Next3D's generator with the official parameter and buffer names (``texture_backbone``,
    ``mouth_backbone``, ``backbone``, ``superresolution``, ``decoder``, ``neural_blending`` and the topology
    buffers), so the converted ``G_ema`` state dict loads strictly.

    The first arguments are the official constructor's. ``topology_path`` is accepted and ignored: the
    topology buffers come from the checkpoint or from `set_topology`. ``plane_resolution``,
    ``mouth_resolution`` and ``sr_block_channels`` default to the official sizes; smaller values make test
    configurations.
    """

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        topology_path: str | None = None,
        sr_num_fp16_res: int = 0,
        mapping_kwargs: dict | None = None,
        rendering_kwargs: dict | None = None,
        sr_kwargs: dict | None = None,
        num_vertices: int = 5023,
        num_faces: int = 9976,
        num_uvs: int = 5118,
        plane_resolution: int = 256,
        plane_channels: int = 32,
        mouth_resolution: int = 64,
        sr_block_channels: tuple[int, int] = OFFICIAL_BLOCK_CHANNELS,
        **synthesis_kwargs,
    ):
        super().__init__()
        rendering_kwargs = {**FFHQ_RENDERING_KWARGS, **(rendering_kwargs or {})}
        sr_module = rendering_kwargs["superresolution_module"]
        if not sr_module.endswith(SUPERRESOLUTION_MODULE):
            raise NotImplementedError(f"only {SUPERRESOLUTION_MODULE} is implemented, got {sr_module}")
        if (
            rendering_kwargs.get("disparity_space_sampling")
            or rendering_kwargs.get("clamp_mode") != "softplus"
        ):
            raise NotImplementedError("only depth-space sampling with softplus densities is implemented")
        if img_channels != 3:
            raise ValueError(f"Next3D makes RGB images (img_channels=3), got {img_channels}")
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.rendering_kwargs = rendering_kwargs
        self.num_vertices, self.plane_resolution, self.mouth_resolution = (
            num_vertices,
            plane_resolution,
            mouth_resolution,
        )
        self.neural_rendering_resolution = 64
        kwargs = dict(mapping_kwargs=mapping_kwargs or {}, **_without(synthesis_kwargs, NO_EFFECT_KWARGS))
        self.texture_backbone = StyleGAN2Generator(
            z_dim, c_dim, w_dim, img_resolution=plane_resolution, img_channels=plane_channels, **kwargs
        )
        self.mouth_backbone = StyleUNetGenerator(
            z_dim,
            c_dim,
            w_dim,
            img_resolution=plane_resolution,
            img_channels=plane_channels,
            in_size=mouth_resolution,
            final_size=4,
            cond_channels=plane_channels,
            num_cond_res=mouth_resolution,
            **kwargs,
        )
        self.backbone = StyleGAN2Generator(
            z_dim,
            c_dim,
            w_dim,
            img_resolution=plane_resolution,
            img_channels=plane_channels * 3,
            mapping_ws=self.texture_backbone.num_ws * 2,
            **kwargs,
        )
        self.superresolution = SuperresolutionHybrid8XDC(
            channels=FEATURE_CHANNELS,
            img_resolution=img_resolution,
            sr_num_fp16_res=sr_num_fp16_res,
            sr_antialias=rendering_kwargs["sr_antialias"],
            w_dim=w_dim,
            block_channels=tuple(sr_block_channels),
            **_without(sr_kwargs or {}, NO_EFFECT_SR_KWARGS),
        )
        self.decoder = OSGDecoder(
            plane_channels,
            output_dim=FEATURE_CHANNELS,
            lr_multiplier=rendering_kwargs.get("decoder_lr_mul", 1),
        )
        self.register_buffer("dense_faces", dense_grid_triangles(plane_resolution, plane_resolution)[None])
        self.register_buffer("faces", torch.zeros(1, num_faces, 3, dtype=torch.long))
        self.register_buffer("raw_uvcoords", torch.zeros(1, num_uvs, 2))
        self.register_buffer("uvcoords", torch.zeros(1, num_uvs, 3))
        self.register_buffer("uvfaces", torch.zeros(1, num_faces, 3, dtype=torch.long))
        self.register_buffer("face_uvcoords", torch.zeros(1, num_faces, 3, 3))
        self.neural_blending = StyleUNetGenerator(
            z_dim,
            c_dim,
            w_dim,
            cond_channels=plane_channels,
            img_resolution=plane_resolution,
            img_channels=plane_channels,
            in_size=plane_resolution,
            final_size=plane_resolution // 8,
            num_cond_res=plane_resolution,
            **kwargs,
        )
        self.register_buffer("orth_shift", torch.tensor([ORTH_SHIFT]), persistent=False)
        self.orth_scale = ORTH_SCALE

    @torch.no_grad()
    def set_topology(self, faces: torch.Tensor, uvs: torch.Tensor, uv_faces: torch.Tensor) -> None:
        """Fill the topology buffers from a mesh with UVs (FLAME's ``head_template.obj``)."""
        faces, uv_faces, uvs = faces.long(), uv_faces.long(), uvs.float()
        if faces.shape != self.faces.shape[1:] or uvs.shape != self.raw_uvcoords.shape[1:]:
            raise ValueError(
                f"topology has {len(faces)} faces / {len(uvs)} UVs, this generator expects "
                f"{self.faces.shape[1]} / {self.raw_uvcoords.shape[1]}"
            )
        lifted = torch.cat([uvs, torch.ones_like(uvs[:, :1])], dim=-1) * 2 - 1
        lifted[:, 1] = -lifted[:, 1]
        self.faces.copy_(faces[None])
        self.raw_uvcoords.copy_(uvs[None])
        self.uvcoords.copy_(lifted[None])
        self.uvfaces.copy_(uv_faces[None])
        self.face_uvcoords.copy_(lifted[uv_faces][None])

    def mapping(
        self,
        z: torch.Tensor,
        c: torch.Tensor,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        """z (B,z_dim) and camera c (B,>=25) -> ws (B, 2 * num_ws, w_dim); truncation as the official."""
        if self.rendering_kwargs.get("c_gen_conditioning_zero"):
            c = torch.zeros_like(c)
        c = c[:, :25] * self.rendering_kwargs.get("c_scale", 0)
        return self.backbone.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)

    def blended_planes(
        self,
        ws: torch.Tensor,
        v: torch.Tensor,
        uv_face_mask: torch.Tensor,
        blend: str = "front",
        noise_mode: str = "const",
        texture_rasterizer: str = "auto",
    ) -> torch.Tensor:
        """Tri-planes (B, 3, C, R, R) with the neural texture of the mesh ``v`` (B, V + 68, 3) blended in."""
        if blend not in BLEND_MODES:
            raise ValueError(f"blend must be one of {BLEND_MODES}, got {blend!r}")
        if v.shape[1] <= self.num_vertices:
            raise ValueError(
                f"v must hold the {self.num_vertices} mesh vertices followed by the 68 landmarks, "
                f"got shape {tuple(v.shape)}"
            )
        vertices, landmarks = v[:, : self.num_vertices], v[:, self.num_vertices :]
        num_ws = self.texture_backbone.num_ws
        eg3d_ws, texture_ws = ws[:, :num_ws], ws[:, num_ws:]
        texture = self.texture_backbone.synthesis(texture_ws, noise_mode=noise_mode)
        views = (FRONT_VIEW,) if blend == "front" else ORTHOGRAPHIC_VIEWS
        rendered = sample_texture_views(
            vertices,
            landmarks,
            texture,
            uv_face_mask,
            self.faces[0],
            self.face_uvcoords[0],
            views,
            self.orth_shift,
            self.orth_scale,
            texture_rasterizer,
        )
        front, front_alpha, front_landmarks = rendered[0]
        front = self._resynthesise_mouth(front, front_landmarks, eg3d_ws, noise_mode)
        front = self.neural_blending.synthesis(front, eg3d_ws, noise_mode=noise_mode)
        static = self.backbone.synthesis(eg3d_ws, noise_mode=noise_mode)
        static = static.reshape(len(static), 3, -1, *static.shape[-2:])
        if blend == "front":
            planes = static.clone()
            planes[:, 0] = front * front_alpha + static[:, 0] * (1 - front_alpha)
            return planes
        (left, left_alpha, _), (right, _, _), (top, top_alpha, _) = rendered[1:]
        textured = torch.stack([front, left + right, top], dim=1)
        # The original code's side alpha is `alpha[1] | alpha[1]`: only the first side view counts.
        alpha = torch.stack([front_alpha, left_alpha.bool().to(left_alpha), top_alpha], dim=1)
        return textured * alpha + static * (1 - alpha)

    def _resynthesise_mouth(
        self, front: torch.Tensor, landmarks: torch.Tensor, ws: torch.Tensor, noise_mode: str
    ) -> torch.Tensor:
        """Crop the mouth of each front view, run the mouth StyleUNet on it, paste the result back."""
        size = (self.mouth_resolution, self.mouth_resolution)
        boxes = mouth_boxes(landmarks, front.shape[-1])
        crops = torch.cat(
            [
                F.interpolate(
                    front[i : i + 1, :, top:bottom, left:right],
                    size=size,
                    mode="bilinear",
                    antialias=True,
                )
                for i, (top, bottom, left, right) in enumerate(boxes)
            ]
        )
        mouths = self.mouth_backbone.synthesis(crops, ws, noise_mode=noise_mode)
        stitched = front.clone()
        for i, (top, bottom, left, right) in enumerate(boxes):
            stitched[i, :, top:bottom, left:right] = F.interpolate(
                mouths[i : i + 1], size=(bottom - top, bottom - top), mode="bilinear", antialias=True
            )[0]
        return stitched

    def render(
        self,
        planes: torch.Tensor,
        cameras: Cameras,
        resolution: int,
        generator: Generators = None,
        chunk_size: int | None = None,
    ):
        """Volume-render the tri-planes at ``resolution`` x ``resolution`` (`VolumeRendering`, row-major),
        ``chunk_size`` rays per image at a time."""
        options = self.rendering_kwargs
        origins, directions = unit_rays(cameras.to(planes.device), resolution)
        return render_triplanes(
            planes,
            self.decoder,
            origins,
            directions,
            options["ray_start"],
            options["ray_end"],
            options["depth_resolution"],
            options["depth_resolution_importance"],
            options["box_warp"],
            generator=generator,
            white_back=options.get("white_back", False),
            chunk_size=chunk_size,
        )

    def synthesis(
        self,
        ws: torch.Tensor,
        c: torch.Tensor,
        v: torch.Tensor,
        uv_face_mask: torch.Tensor,
        neural_rendering_resolution: int | None = None,
        depth_image_resolution: int | None = None,
        blend: str = "front",
        noise_mode: str = "const",
        generator: Generators = None,
        texture_rasterizer: str = "auto",
        ray_chunk_size: int | None = None,
    ) -> TriPlaneOutput:
        """Render ws (B, 2 * num_ws, w_dim) from cameras c (B, 25) for meshes v (B, V + 68, 3).

        ``depth_image_resolution`` (default: the neural rendering resolution) is the size of the separate
        depth pass; ``generator`` (one, or one per sample) seeds the stratified and importance sampling;
        ``ray_chunk_size`` bounds the rays of each image rendered at once (memory, cache locality)."""
        resolution = neural_rendering_resolution or self.neural_rendering_resolution
        batch = ws.shape[0]
        planes = self.blended_planes(ws, v, uv_face_mask, blend, noise_mode, texture_rasterizer)
        cameras = Cameras.from_conditioning(c)
        depth_resolution = depth_image_resolution or resolution
        if depth_resolution != resolution:  # first, as SynthForge's generator draws its samples
            depth = self.render(planes, cameras, depth_resolution, generator, ray_chunk_size).depth
        rendering = self.render(planes, cameras, resolution, generator, ray_chunk_size)
        features = rendering.features.permute(0, 2, 1).reshape(batch, -1, resolution, resolution)
        if depth_resolution == resolution:
            depth = rendering.depth
        depth = depth.permute(0, 2, 1).reshape(batch, 1, depth_resolution, depth_resolution)
        rgb = features[:, :3]
        num_ws = self.texture_backbone.num_ws
        image = self.superresolution(
            rgb,
            features,
            ws[:, :num_ws],
            noise_mode=self.rendering_kwargs["superresolution_noise_mode"],
        )
        return TriPlaneOutput(
            image=image,
            image_raw=rgb,
            image_depth=depth,
            features=features,
            coarse_points=rendering.coarse_points,
            coarse_sigma=rendering.coarse_sigma,
        )

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor,
        v: torch.Tensor,
        uv_face_mask: torch.Tensor,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        **synthesis_kwargs,
    ) -> TriPlaneOutput:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, c, v, uv_face_mask, **synthesis_kwargs)
