"""`Next3DFaceGenerator`: Next3D as an image backend of `SynthForgePipeline`."""

from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import register_to_config
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401  (see FaceGenerator's docstring)

from ...rendering.cameras import WORLD_UNITS_PER_METRE, Cameras, head_to_world, intrinsics_to_fov
from ...rendering.rasterizer import BACKENDS
from ..base import FaceGenerator, GeneratorOutput, Scene
from .alignment import alignment_residuals, optical_axis_depth
from .superresolution import OFFICIAL_BLOCK_CHANNELS
from .triplane import BLEND_MODES, TriPlaneGenerator, TriPlaneOutput

CONDITIONING_MODES = ("render", "frontal")
# The released FFHQ-512 model's constructor arguments (the official training script's defaults).
FFHQ_SYNTHESIS_KWARGS = {"channel_base": 32768, "channel_max": 512, "num_fp16_res": 0, "conv_clamp": None}


def latent_seed(latent: torch.Tensor) -> int:
    """A 63-bit seed that is a function of one latent vector's float32 values."""
    digest = hashlib.blake2b(latent.detach().float().cpu().numpy().tobytes(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


CPU_RAY_CHUNK = 2048  # rays per image rendered at once on a CPU


def ray_chunk_for(setting: int | str | None, device: torch.device | str) -> int | None:
    """The rays per image rendered at once for a ``ray_chunk_size`` setting on ``device``: "auto" renders
    whole images on CUDA and `CPU_RAY_CHUNK` rays elsewhere; an int or None is taken as it is."""
    if setting == "auto":
        return None if torch.device(device).type == "cuda" else CPU_RAY_CHUNK
    if setting is not None and (isinstance(setting, bool) or not isinstance(setting, int) or setting < 1):
        raise ValueError(f'ray_chunk_size must be a positive int, None or "auto", got {setting!r}')
    return setting


class Next3DFaceGenerator(FaceGenerator):
    """Next3D (a FLAME-driven tri-plane GAN) as a diffusers component.

    ``next3d`` is a `TriPlaneGenerator` whose state dict is the official ``G_ema``'s; this component adds
    the UV face mask (``uv_face_mask``, DECA's ``uv_face_eye_mask.png``) and the fitted FLAME -> Next3D
    correction (``alignment_matrix``, ``alignment_translation``; identity until fitted). Make one from the
    official checkpoint with `convert.load_next3d_checkpoint` (a whole pipeline, alignment fitted:
    `synthforge_hf.convert_next3d`).

    Args (besides the official constructor's, see `TriPlaneGenerator`):
        neural_rendering_resolution: size of the volume-rendered feature image (64 for the release).
        depth_image_resolution: size of the separate depth pass (SynthForge: 128).
        truncation_psi, truncation_cutoff: truncation of the tri-plane w's (SynthForge: 0.7, 14).
        blend: where the neural texture is blended into the tri-planes: "front" (the default) is
            SynthForge's released fix, the front plane only; "all" reproduces the official Next3D
            renderer, the neural texture in every plane.
        conditioning: camera for the mapping network: "render" (the rendered pose, as SynthForge) or
            "frontal" (the frontal pose, as Next3D's own sampling script).
        noise_mode: StyleGAN noise of the backbones ("const", "random", "none").
        texture_rasterizer: a `rendering.rasterizer` backend: "auto" (PyTorch3D on CUDA, the PyTorch
            z-buffer elsewhere), "zbuffer", "open3d" or "pytorch3d".
        ray_chunk_size: rays of each image volume-rendered at once (None: all; "auto": all on CUDA, as the
            official code renders, 2048 elsewhere, where smaller working sets suit CPU caches); the
            result is the same either way.
    """

    quality_outputs = ("landmark_depth_error", "depth_residual")

    @register_to_config
    def __init__(
        self,
        z_dim: int = 512,
        c_dim: int = 25,
        w_dim: int = 512,
        img_resolution: int = 512,
        sr_num_fp16_res: int = 4,
        mapping_kwargs: dict | None = None,
        rendering_kwargs: dict | None = None,
        sr_kwargs: dict | None = None,
        synthesis_kwargs: dict | None = None,
        num_vertices: int = 5023,
        num_faces: int = 9976,
        num_uvs: int = 5118,
        plane_resolution: int = 256,
        plane_channels: int = 32,
        mouth_resolution: int = 64,
        sr_block_channels: tuple[int, int] = OFFICIAL_BLOCK_CHANNELS,
        neural_rendering_resolution: int = 64,
        depth_image_resolution: int = 128,
        truncation_psi: float = 0.7,
        truncation_cutoff: int = 14,
        blend: str = "front",
        conditioning: str = "render",
        noise_mode: str = "const",
        texture_rasterizer: str = "auto",
        ray_chunk_size: int | str | None = "auto",
    ):
        super().__init__()
        for value, allowed, name in (
            (blend, BLEND_MODES, "blend"),
            (conditioning, CONDITIONING_MODES, "conditioning"),
            (texture_rasterizer, BACKENDS, "texture_rasterizer"),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        ray_chunk_for(ray_chunk_size, "cpu")  # refuses a bad setting now, not at the first render
        self.next3d = TriPlaneGenerator(
            z_dim,
            c_dim,
            w_dim,
            img_resolution,
            3,
            sr_num_fp16_res=sr_num_fp16_res,
            mapping_kwargs=mapping_kwargs or {"num_layers": 2},
            rendering_kwargs=rendering_kwargs,
            sr_kwargs=sr_kwargs,
            num_vertices=num_vertices,
            num_faces=num_faces,
            num_uvs=num_uvs,
            plane_resolution=plane_resolution,
            plane_channels=plane_channels,
            mouth_resolution=mouth_resolution,
            sr_block_channels=sr_block_channels,
            **(FFHQ_SYNTHESIS_KWARGS if synthesis_kwargs is None else synthesis_kwargs),
        )
        self.register_buffer("uv_face_mask", torch.zeros(1, 1, plane_resolution, plane_resolution))
        self.register_buffer("alignment_matrix", torch.eye(3))
        self.register_buffer("alignment_translation", torch.zeros(3))
        self.register_buffer("alignment_loss", torch.full((2,), float("nan")))  # before / after the fit

    @property
    def latent_dim(self) -> int:
        return self.config.z_dim

    def sample_latents(self, generators: list[torch.Generator | None]) -> torch.Tensor:
        """z ~ N(0, I), one per sample from its own generator."""
        return torch.stack([torch.randn(self.config.z_dim, generator=g) for g in generators])

    def head_to_world(self, points: torch.Tensor) -> torch.Tensor:
        """The nominal FLAME -> Next3D transform followed by the fitted affine correction."""
        matrix, translation = self.alignment_matrix.to(points), self.alignment_translation.to(points)
        return head_to_world(points) @ matrix.T + translation

    @torch.no_grad()
    def set_alignment(
        self, matrix: torch.Tensor, translation: torch.Tensor, loss: tuple[float, float] | None = None
    ) -> None:
        """Store a fitted correction (see `alignment.fit_alignment`) and its loss before and after."""
        self.alignment_matrix.copy_(matrix)
        self.alignment_translation.copy_(translation)
        self.alignment_loss.copy_(torch.tensor(loss if loss is not None else (float("nan"),) * 2))

    def compile_networks(self, **compile_kwargs) -> None:
        """``torch.compile`` the convolutional networks and the decoder in place (state dict unchanged)."""
        net = self.next3d
        for module in (
            net.texture_backbone.synthesis,
            net.mouth_backbone.synthesis,
            net.backbone.synthesis,
            net.neural_blending.synthesis,
            net.superresolution,
            net.decoder,
        ):
            module.compile(**compile_kwargs)

    def _mapping_cameras(self, cameras: Cameras) -> torch.Tensor:
        if self.config.conditioning == "render":
            return cameras.conditioning
        zeros = torch.zeros(len(cameras))
        frontal = Cameras.orbit(zeros, zeros, intrinsics_to_fov(cameras.intrinsics.cpu()))
        return Cameras(frontal.cam2world, cameras.intrinsics.cpu()).conditioning

    def synthesize(
        self, latents: torch.Tensor, cameras: Cameras, flame_vertices: torch.Tensor
    ) -> TriPlaneOutput:
        """Run Next3D for latents z (B, z_dim), cameras, and the FLAME mesh + 68 landmarks in the head
        frame (B, V + 68, 3), metres. Rendering noise is seeded from each latent."""
        device = self.device
        cameras = cameras.to(device)
        c = cameras.conditioning.float()
        ws = self.next3d.mapping(
            latents.to(device).float(),
            self._mapping_cameras(cameras).to(device).float(),
            truncation_psi=self.config.truncation_psi,
            truncation_cutoff=self.config.truncation_cutoff,
        )
        generators = [torch.Generator().manual_seed(latent_seed(z)) for z in latents]
        return self.next3d.synthesis(
            ws,
            c,
            flame_vertices.to(device).float(),
            self.uv_face_mask,
            neural_rendering_resolution=self.config.neural_rendering_resolution,
            depth_image_resolution=self.config.depth_image_resolution,
            blend=self.config.blend,
            noise_mode=self.config.noise_mode,
            generator=generators,
            texture_rasterizer=self.config.texture_rasterizer,
            ray_chunk_size=ray_chunk_for(self.config.ray_chunk_size, device),
        )

    def forward(self, scene: Scene) -> GeneratorOutput:
        """Images at the scene's resolution, Next3D's depth (metres, along the optical axis, resized to the
        scene's resolution) and raw image, and the residuals of `alignment_residuals`."""
        vertices = scene.head_output.vertices
        if vertices.shape[1] != self.config.num_vertices:
            raise ValueError(
                f"Next3D is driven by FLAME ({self.config.num_vertices} vertices); head model "
                f"'{scene.head.config.name}' has {vertices.shape[1]}. Use load_flame(...)."
            )
        flame = torch.cat([vertices, scene.head_output.landmarks_3d], dim=1)
        out = self.synthesize(scene.latents, scene.cameras, flame)
        size = (scene.resolution, scene.resolution)
        image = (out.image.float().clamp(-1, 1) + 1) / 2
        if image.shape[-1] != scene.resolution:
            image = F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)
        depth = optical_axis_depth(out.image_depth.float(), scene.cameras) / WORLD_UNITS_PER_METRE
        depth = F.interpolate(depth[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
        annotations = scene.annotations
        residuals = alignment_residuals(
            depth,
            annotations.depth.to(depth),
            annotations.segmentation.to(depth.device),
            annotations.landmarks_2d.to(depth),
            annotations.landmarks_3d[..., 2].to(depth),
            annotations.landmark_visibility.to(depth.device),
        )
        extras = {"depth": depth, "image_raw": (out.image_raw.float().clamp(-1, 1) + 1) / 2, **residuals}
        return GeneratorOutput(image.clamp(0, 1), extras)
