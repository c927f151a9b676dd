"""`SynthForgePipeline`: sample a head, render it, and return the image with exact annotations."""

from __future__ import annotations

import math
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np
import PIL.Image
import torch
from diffusers import DiffusionPipeline

from ...constants import MAX_SEED, NUM_LANDMARKS
from ...generators.base import FaceGenerator, Scene
from ...head.lbs import head_rotation
from ...head.model import HeadOutput, ParametricHeadModel
from ...rendering.annotator import FaceAnnotator
from ...rendering.cameras import Cameras, head_pose_degrees
from .assets import load_generator, load_head
from .head_pose import annotated_points, pupils_of, relative_face_yaw
from .pipeline_output import SynthForgePipelineOutput
from .sampling import SampleParameters, SamplingRanges, sample_parameters, seeds_from_generator

OUTPUT_TYPES = ("pil", "np", "pt")


class SynthForgePipeline(DiffusionPipeline):
    """Generates face images with segmentation, depth and 68 2D/3D landmarks.

    A `diffusers.DiffusionPipeline` of three components: a parametric head is posed with each sample's
    shape, expression and pose, the annotator rasterizes it into exact labels, and the image backend
    paints the image. Each sample is a pure function of its seed. The pipeline saves and loads as any
    diffusers pipeline (`save_pretrained` / `from_pretrained`: a folder or a Hub id), moves with ``to``,
    and supports `enable_model_cpu_offload`.

    Args:
        head_model (`ParametricHeadModel`):
            The head: FLAME, ICT-FaceKit or the embedded default head.
        face_generator (`FaceGenerator`):
            The backend that makes the image: the mesh renderer or Next3D.
        annotator (`FaceAnnotator`):
            Rasterizes the posed head into exact labels.
        sampling_ranges (`dict`, *optional*):
            `SamplingRanges` fields for the parameters a call does not give (default: the paper's
            ranges); kept in the configuration.

    Example:

    ```python
    >>> import torch
    >>> from synthforge_hf import SynthForgePipeline
    >>> pipe = SynthForgePipeline.from_default_head()  # offline: the embedded head and the mesh renderer
    >>> out = pipe(num_samples=2, resolution=32, generator=torch.Generator().manual_seed(0))
    >>> out.images[0].size, out.segmentation.shape, out.landmarks_2d.shape, out.depth.shape
    ((32, 32), (2, 32, 32), (2, 68, 2), (2, 32, 32))
    >>> pipe.save_pretrained("my-pipeline")  # safetensors and configurations
    >>> again = SynthForgePipeline.from_pretrained("my-pipeline")  # or a Hub id
    >>> seeds = out.parameters["seed"].tolist()
    >>> bool((again(seeds=seeds, resolution=32).segmentation == out.segmentation).all())
    True

    ```
    """

    # The order `__call__` runs them: the head is posed, the annotator rasterizes it, the backend paints it.
    model_cpu_offload_seq = "head_model->annotator->face_generator"

    def __init__(
        self,
        head_model: ParametricHeadModel,
        face_generator: FaceGenerator,
        annotator: FaceAnnotator,
        sampling_ranges: dict | None = None,
    ):
        super().__init__()
        self.register_modules(head_model=head_model, face_generator=face_generator, annotator=annotator)
        ranges = SamplingRanges(**(sampling_ranges or {}))
        self.register_to_config(sampling_ranges={**asdict(ranges), "fov": list(ranges.fov)})

    @classmethod
    def from_assets(
        cls,
        head: ParametricHeadModel | str = "default",
        generator: FaceGenerator | str = "mesh",
        annotator: FaceAnnotator | None = None,
        *,
        head_dir: str | Path | None = None,
        generator_dir: str | Path | None = None,
        **sampling_ranges,
    ) -> SynthForgePipeline:
        """A pipeline from its components, each given or named with its folder.

        The way to build a pipeline from the head and image backend files a user has (the FLAME files,
        the ICT-FaceKit folder, a Next3D component made by ``synthforge convert-next3d``); what
        ``synthforge generate --head ... --generator ...`` does.

        Args:
            head (`ParametricHeadModel` or `str`, *optional*, defaults to `"default"`):
                The head itself, or its name: "default" (embedded, no folder), "flame" or "ict-facekit"
                (read from ``head_dir``; see `assets.load_head`).
            generator (`FaceGenerator` or `str`, *optional*, defaults to `"mesh"`):
                The image backend itself, or its name: "mesh" (the mesh renderer; its defaults, or the
                component in ``generator_dir``) or "next3d" (a converted component in ``generator_dir``;
                see `assets.load_generator`).
            annotator (`FaceAnnotator`, *optional*):
                The annotator (default: a `FaceAnnotator` with its defaults).
            head_dir (`str` or `Path`, *optional*):
                The folder of the named head: the FLAME files or the ICT-FaceKit folder.
            generator_dir (`str` or `Path`, *optional*):
                The folder of the named image backend's component, or a saved pipeline (its
                ``face_generator/`` is read).
            **sampling_ranges:
                `SamplingRanges` fields (e.g. ``yaw=0.0``); the others keep their defaults.

        Returns:
            `SynthForgePipeline`: the pipeline, on the CPU.

        Example:

        ```python
        >>> from synthforge_hf import FaceAnnotator, SynthForgePipeline
        >>> pipe = SynthForgePipeline.from_assets(
        ...     "default", "mesh", annotator=FaceAnnotator(rasterizer="zbuffer"), shape=1.0, fov=(15.0, 20.0)
        ... )
        >>> pipe.sampling_ranges.shape, pipe.sampling_ranges.fov, pipe.sampling_ranges.yaw
        (1.0, (15.0, 20.0), 0.8)
        >>> type(pipe.head_model).__name__, type(pipe.face_generator).__name__
        ('ParametricHeadModel', 'MeshFaceGenerator')
        >>> # With the FLAME files: SynthForgePipeline.from_assets("flame", head_dir="path/to/flame")

        ```
        """
        return cls(
            head_model=load_head(head, head_dir),
            face_generator=load_generator(generator, generator_dir),
            annotator=FaceAnnotator() if annotator is None else annotator,
            sampling_ranges=sampling_ranges or None,
        )

    @classmethod
    def from_default_head(cls, rasterizer: str = "auto", **sampling_ranges) -> SynthForgePipeline:
        """The offline default: the embedded procedural head rendered by the mesh backend.

        Needs no download and no file: `from_assets` with the "default" head and the "mesh" generator.

        Args:
            rasterizer (`str`, *optional*, defaults to `"auto"`):
                The annotator's rasterizer backend: "auto" (PyTorch3D on CUDA, the PyTorch z-buffer
                elsewhere), "zbuffer", "open3d" or "pytorch3d" (see `FaceAnnotator`).
            **sampling_ranges:
                `SamplingRanges` fields (e.g. ``yaw=0.0``); the others keep their defaults.

        Returns:
            `SynthForgePipeline`: the pipeline, on the CPU.

        Example:

        ```python
        >>> from synthforge_hf import SynthForgePipeline
        >>> pipe = SynthForgePipeline.from_default_head(rasterizer="zbuffer", expression=0.5)
        >>> pipe.annotator.config.rasterizer, pipe.sampling_ranges.expression
        ('zbuffer', 0.5)
        >>> pipe(seeds=[7], resolution=32).images[0].size
        (32, 32)

        ```
        """
        return cls.from_assets(annotator=FaceAnnotator(rasterizer=rasterizer), **sampling_ranges)

    def enable_model_cpu_offload(
        self, gpu_id: int | None = None, device: torch.device | str | None = None
    ) -> None:
        """diffusers' model offload, in the order `__call__` runs the components, of those with parameters
        (Next3D). The others stay on the accelerator: the head, whose buffers the annotator and the image
        backend read after it has run, and the components that hold only buffers (the annotator, the mesh
        renderer), which are small and which accelerate's hook cannot place (it reads a module's first
        parameter)."""
        resident = [
            name
            for name, component in self.components.items()
            if isinstance(component, torch.nn.Module)
            and (name == "head_model" or next(component.parameters(), None) is None)
        ]
        self._exclude_from_cpu_offload = resident
        order = type(self).model_cpu_offload_seq.split("->")
        self.model_cpu_offload_seq = "->".join(name for name in order if name not in resident)
        super().enable_model_cpu_offload(gpu_id=gpu_id, device=device)

    @property
    def sampling_ranges(self) -> SamplingRanges:
        ranges = dict(self.config.sampling_ranges)
        ranges["fov"] = tuple(ranges["fov"])
        return SamplingRanges(**ranges)

    @property
    def dtype(self) -> torch.dtype:
        """The image backend's dtype (what ``torch_dtype=`` sets); the annotator's label textures are
        integer buffers and do not count."""
        return self.face_generator.dtype

    @staticmethod
    def check_inputs(
        num_samples: int | None,
        explicit: dict[str, torch.Tensor | None],
        resolution: int,
        batch_size: int,
        output_type: str,
    ) -> int:
        """Validate the call's arguments; return the number of samples (given, or inferred from the
        explicit parameters and seeds)."""
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution <= 0:
            raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        sizes = {name: value.shape[0] for name, value in explicit.items() if value is not None}
        if num_samples is not None:
            sizes["num_samples"] = num_samples
        if not sizes:
            return 1
        if len(set(sizes.values())) > 1:
            raise ValueError(f"inconsistent batch sizes: {sizes}")
        size = next(iter(sizes.values()))
        if size < 1:
            raise ValueError(f"num_samples must be at least 1, got {size}")
        return size

    @staticmethod
    def check_parameter_values(explicit: dict[str, torch.Tensor]) -> None:
        """Refuse explicit parameters no camera or head can take, naming the argument: non-finite numbers,
        a field of view outside (0, 180) degrees, a yaw beyond half a turn, a pitch at or past the poles
        (where the orbit camera has no up direction), seeds outside 0 to 2**63 - 1."""
        for name, value in explicit.items():
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise ValueError(f"`{name}` must hold finite numbers, got {value.flatten()[:8].tolist()}")
        limits = {
            "fov": (lambda v: (v > 0) & (v < 180), "degrees in (0, 180)"),
            "yaw": (lambda v: v.abs() <= math.pi, "radians in [-pi, pi]"),
            "pitch": (lambda v: v.abs() < math.pi / 2, "radians in (-pi/2, pi/2)"),
            "seed": (lambda v: (v >= 0) & (v <= MAX_SEED), "integers from 0 to 2**63 - 1"),
        }
        for name, (inside, what) in limits.items():
            value = explicit.get(name)
            if value is not None and not bool(inside(value).all()):
                outside = value[~inside(value)].flatten()[:8].tolist()
                raise ValueError(f"`{name}` must hold {what}, got {outside}")

    def prepare_parameters(
        self,
        num_samples: int,
        explicit: dict[str, torch.Tensor | None],
        generator: torch.Generator | list[torch.Generator] | None,
        seeds: list[int] | None,
    ) -> tuple[SampleParameters, torch.Tensor]:
        """Each sample's parameters (drawn from its seed, then replaced by the explicit ones) and the
        image backend's latents."""
        if seeds is None:
            seeds = seeds_from_generator(generator, num_samples)
        params, latents = self.sample([int(s) for s in seeds])
        for field in fields(params):
            value = explicit.get(field.name)
            if value is not None:
                setattr(params, field.name, _conform(field.name, value, getattr(params, field.name)))
        if explicit.get("latents") is not None:
            latents = _conform("latents", explicit["latents"], latents)
        return params, latents

    def render(
        self, params: SampleParameters, latents: torch.Tensor, resolution: int, batch_size: int
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Render all samples in batches of ``batch_size``; returns the images with their labels, and
        what the image backend adds (Next3D's depth and quality measures), both on the CPU."""
        labels, extras = [], []
        num_samples = params.seed.shape[0]
        with self.progress_bar(total=math.ceil(num_samples / batch_size)) as progress:
            for start in range(0, num_samples, batch_size):
                batch_labels, batch_extras = self._render(
                    params, latents, slice(start, min(start + batch_size, num_samples)), resolution
                )
                labels.append(batch_labels)
                extras.append(batch_extras)
                progress.update()
        return _concatenate(labels), _concatenate(extras)

    @torch.no_grad()
    def __call__(
        self,
        num_samples: int | None = None,
        shape: torch.Tensor | None = None,
        expression: torch.Tensor | None = None,
        pose: torch.Tensor | None = None,
        yaw: torch.Tensor | float | None = None,
        pitch: torch.Tensor | float | None = None,
        fov: torch.Tensor | float | None = None,
        latents: torch.Tensor | None = None,
        resolution: int = 256,
        generator: torch.Generator | list[torch.Generator] | None = None,
        seeds: list[int] | None = None,
        batch_size: int = 16,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> SynthForgePipelineOutput | tuple:
        """Generate annotated samples.

        Each sample's parameters are drawn from its own seed within the pipeline's `SamplingRanges`;
        the parameters given here replace the drawn ones. Explicit values are checked first: non-finite
        numbers, a field of view outside (0, 180) degrees, a yaw beyond half a turn, a pitch at or past
        the poles and seeds outside 0 to 2**63 - 1 are refused (`ValueError` naming the argument).

        Args:
            num_samples (`int`, *optional*):
                How many samples; inferred from explicit parameters or ``seeds`` if omitted (1 if none).
            shape (`torch.Tensor` of shape `(B, num_shape)`, *optional*):
                Explicit shape coefficients of the head.
            expression (`torch.Tensor` of shape `(B, num_expression)`, *optional*):
                Explicit expression coefficients of the head.
            pose (`torch.Tensor` of shape `(B, 15)`, *optional*):
                Explicit axis-angle rotations of (global, neck, jaw, left_eye, right_eye).
            yaw (`torch.Tensor` of shape `(B,)` or `float`, *optional*):
                Camera yaw offsets in radians (EG3D orbit; see `rendering.cameras.orbit_cam2world`); a
                number applies to every sample.
            pitch (`torch.Tensor` of shape `(B,)` or `float`, *optional*):
                Camera pitch offsets in radians, as ``yaw``.
            fov (`torch.Tensor` of shape `(B,)` or `float`, *optional*):
                Field of view in degrees (EG3D convention), or one number.
            latents (`torch.Tensor` of shape `(B, latent_dim)`, *optional*):
                Appearance latents of the image backend.
            resolution (`int`, *optional*, defaults to 256):
                Output size in pixels (square).
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*):
                A generator, or one per sample; each sample gets its own seed from it.
            seeds (`list[int]`, *optional*):
                Explicit per-sample seeds (instead of ``generator``): sample i depends only on seeds[i].
            batch_size (`int`, *optional*, defaults to 16):
                Samples rendered together.
            output_type (`str`, *optional*, defaults to `"pil"`):
                "pil" (images as PIL, labels as numpy), "np" or "pt".
            return_dict (`bool`, *optional*, defaults to `True`):
                Return a `SynthForgePipelineOutput`; `False` returns its fields as a tuple.

        Returns:
            `SynthForgePipelineOutput` or `tuple`: the images with their segmentation (B,H,W), 2D and 3D
            landmarks (B,68,2) and (B,68,3), landmark visibility (B,68), depth (B,H,W), the parameters
            that regenerate each sample, and what the image backend adds.

        Example:

        ```python
        >>> import torch
        >>> from synthforge_hf import SynthForgePipeline
        >>> pipe = SynthForgePipeline.from_default_head()
        >>> out = pipe(num_samples=3, resolution=32, generator=torch.Generator().manual_seed(0))
        >>> len(out.images), out.segmentation.shape, out.landmark_visibility.shape
        (3, (3, 32, 32), (3, 68))
        >>> frontal = pipe(seeds=[5, 6], yaw=0.0, pitch=0.0, fov=18.0, resolution=32, output_type="pt")
        >>> frontal.images.shape, frontal.images.dtype, frontal.parameters["fov"].tolist()
        (torch.Size([2, 3, 32, 32]), torch.float32, [18.0, 18.0])
        >>> images, segmentation, *labels = pipe(seeds=[5], resolution=32, return_dict=False)
        >>> len(images), segmentation.shape
        (1, (1, 32, 32))

        ```
        """
        explicit = {"shape": shape, "expression": expression, "pose": pose, "latents": latents}
        cameras = {"yaw": yaw, "pitch": pitch, "fov": fov}
        explicit.update({k: torch.as_tensor(v).reshape(-1) for k, v in cameras.items() if v is not None})
        explicit = {k: v for k, v in explicit.items() if v is not None}
        if seeds is not None:
            explicit["seed"] = _seed_tensor(seeds)
        self.check_parameter_values(explicit)
        sized = {k: v for k, v in explicit.items() if not (k in cameras and v.shape[0] == 1)}  # 1: for all
        num_samples = self.check_inputs(num_samples, sized, resolution, batch_size, output_type)
        explicit = {k: v.expand(num_samples) if k in cameras else v for k, v in explicit.items()}
        params, latents = self.prepare_parameters(num_samples, explicit, generator, seeds)
        labels, extras = self.render(params, latents, resolution, batch_size)
        output = self.postprocess(labels, extras, params, latents, output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return tuple(output.values())
        return output

    def sample(self, seeds: list[int]) -> tuple[SampleParameters, torch.Tensor]:
        """Each seed's head and camera parameters and the image backend's latents (B, latent_dim)."""
        head = self.head_model
        params, generators = sample_parameters(
            seeds, head.num_shape, head.num_expression, self.sampling_ranges, head.config.expression_bounds
        )
        return params, self.face_generator.sample_latents(generators)

    def pose(self, params: SampleParameters, rows: slice) -> tuple[Cameras, HeadOutput]:
        """The cameras and the posed head (head frame) of the samples ``rows`` of ``params``."""
        device = self._execution_device
        cameras = Cameras.orbit(params.yaw[rows], params.pitch[rows], params.fov[rows]).to(device)
        pose = params.pose[rows].to(device)
        head_output = self.head_model(
            shape=params.shape[rows].to(device),
            expression=params.expression[rows].to(device),
            pose=pose,
            contour_yaw=relative_face_yaw(pose, cameras),
        )
        return cameras, head_output

    def _render(
        self, params: SampleParameters, latents: torch.Tensor, rows: slice, resolution: int
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        head = self.head_model
        cameras, head_output = self.pose(params, rows)
        vertices_world = self.face_generator.head_to_world(head_output.vertices)
        landmarks_world = self.face_generator.head_to_world(head_output.landmarks_3d)
        points, pupils_known = annotated_points(head_output)
        annotations = self.annotator(
            head, vertices_world, self.face_generator.head_to_world(points), cameras, resolution
        )
        scene = Scene(
            head=head,
            head_output=head_output,
            vertices_world=vertices_world,
            landmarks_world=landmarks_world,
            cameras=cameras,
            annotations=annotations,
            latents=latents[rows].to(self._execution_device),
            resolution=resolution,
            pose=params.pose[rows].to(self._execution_device),
        )
        generated = self.face_generator(scene)
        painted = generated.segmentation
        if painted is not None:
            annotations = replace(annotations, segmentation=painted.to(annotations.segmentation))
        if generated.occluder_depth is not None:
            annotations = annotations.occluded_by(generated.occluder_depth, generated.occluder_labels)
        pupils_2d, pupil_visibility = pupils_of(annotations, pupils_known)
        labels = {
            "images": generated.images.float().cpu(),
            "segmentation": annotations.segmentation.cpu(),
            "landmarks_2d": annotations.landmarks_2d[:, :NUM_LANDMARKS].float().cpu(),
            "landmarks_3d": annotations.landmarks_3d[:, :NUM_LANDMARKS].float().cpu(),
            "landmark_visibility": annotations.landmark_visibility[:, :NUM_LANDMARKS].cpu(),
            "pupils_2d": pupils_2d.float().cpu(),
            "pupil_visibility": pupil_visibility.cpu(),
            "head_pose": head_pose_degrees(head_rotation(params.pose[rows]), cameras.cam2world).float().cpu(),
            "depth": annotations.depth.float().cpu(),
            "camera": cameras.conditioning.float().cpu(),
        }
        extras = {k: (v.float() if v.is_floating_point() else v).cpu() for k, v in generated.extras.items()}
        return labels, extras

    @staticmethod
    def postprocess(
        labels: dict[str, torch.Tensor],
        extras: dict[str, torch.Tensor],
        params: SampleParameters,
        latents: torch.Tensor,
        output_type: str,
    ) -> SynthForgePipelineOutput:
        """The pipeline output in ``output_type`` ("pil", "np" or "pt")."""
        merged = dict(labels)
        merged["parameters"] = {
            **{f.name: getattr(params, f.name) for f in fields(params)},
            "latents": latents,
            "camera": merged.pop("camera"),
        }
        merged["generator_outputs"] = extras
        if output_type == "pt":
            return SynthForgePipelineOutput(**merged)
        nested = ("parameters", "generator_outputs")
        as_np = {k: v.numpy() for k, v in merged.items() if k not in nested}
        for key in nested:
            as_np[key] = {k: v.numpy() for k, v in merged[key].items()}
        images = as_np["images"].transpose(0, 2, 3, 1)
        if output_type == "pil":
            as_np["images"] = [PIL.Image.fromarray(np.round(im * 255).astype(np.uint8)) for im in images]
        else:
            as_np["images"] = images
        return SynthForgePipelineOutput(**as_np)


def _seed_tensor(seeds) -> torch.Tensor:
    try:
        return torch.as_tensor(seeds, dtype=torch.int64)
    except (OverflowError, RuntimeError, TypeError, ValueError) as error:
        raise ValueError(f"`seeds` must be integers from 0 to 2**63 - 1, got {list(seeds)[:8]}") from error


def _conform(name: str, value, like: torch.Tensor) -> torch.Tensor:
    """An explicit parameter as a tensor of ``like``'s dtype and shape (numbers of any real type for a
    floating-point parameter), or a one-line error."""
    value = torch.as_tensor(value)
    if value.dtype == torch.bool or value.is_complex():
        raise TypeError(f"`{name}` must hold real numbers, got {value.dtype}")
    if not like.is_floating_point() and value.is_floating_point():
        raise TypeError(f"`{name}` must hold integers, got {value.dtype}")
    if value.shape != like.shape:
        raise ValueError(f"`{name}` must have shape {tuple(like.shape)}, got {tuple(value.shape)}")
    return value.to(like.dtype)


def _concatenate(batches: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {key: torch.cat([batch[key] for batch in batches]) for key in batches[0]}
