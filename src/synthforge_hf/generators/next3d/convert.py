"""Converting the official Next3D checkpoint into a `Next3DFaceGenerator` (a whole pipeline:
`synthforge_hf.pipelines.synthforge.next3d_conversion`).

The checkpoint is read by `checkpoint.read_checkpoint` (nothing in it runs). The generator's constructor
arguments and its saved attributes (``rendering_kwargs``, ``neural_rendering_resolution``) become the
component's config; its state dict loads strictly into `TriPlaneGenerator`. The UV face mask, which the
official code reads from ``data/ffhq/uv_face_eye_mask.png`` at run time, is stored with the weights.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ...errors import MalformedAssetError, require_file
from .checkpoint import WHERE, NetworkRecord, read_checkpoint, read_network
from .generator import Next3DFaceGenerator
from .triplane import TriPlaneGenerator

NEXT3D_CLASS = "TriPlaneGenerator"
LEGACY_NEXT3D_CLASS = "triplane_next3d.TriPlaneGenerator"  # dotted names, as older converters wrote them
NEXT3D_PARTS = ("texture_backbone", "mouth_backbone", "neural_blending")  # not in EG3D's TriPlaneGenerator
UV_MASK_NAME = "uv_face_eye_mask.png"
UV_MASK_WHERE = (
    "Get uv_face_eye_mask.png from DECA's data folder (also in Next3D's data/ffhq/) and pass --uv-mask, "
    "or put it in the --flame-dir folder."
)
OFFICIAL_POSITIONAL = list(inspect.signature(TriPlaneGenerator).parameters)[:6]
COMPONENT_ARGUMENTS = (
    "z_dim",
    "c_dim",
    "w_dim",
    "img_resolution",
    "sr_num_fp16_res",
    "mapping_kwargs",
    "rendering_kwargs",
    "sr_kwargs",
)
IGNORED_ARGUMENTS = ("img_channels", "topology_path")


def read_uv_face_mask(path: str | Path, resolution: int) -> torch.Tensor:
    """DECA's UV face/eye mask as Next3D uses it: first channel in OpenCV's BGR order (blue), in [0, 1],
    resized by nearest neighbour to (1, 1, resolution, resolution)."""
    path = require_file(path, "UV face mask", UV_MASK_WHERE)
    try:
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    except OSError as err:
        raise MalformedAssetError(path, f"not a readable image ({err})") from err
    mask = torch.from_numpy(rgb[..., 2].copy())[None, None]
    return F.interpolate(mask, size=(resolution, resolution))


def _largest_block(tensors: dict[str, torch.Tensor], prefix: str) -> int:
    resolutions = [int(m.group(1)) for k in tensors if (m := re.match(rf"{re.escape(prefix)}\.b(\d+)\.", k))]
    if not resolutions:
        raise ValueError(f"no '{prefix}.b<res>' blocks in the state dict")
    return max(resolutions)


def _count_blocks(tensors: dict[str, torch.Tensor], prefix: str) -> int:
    return len({m.group(1) for k in tensors if (m := re.match(rf"{re.escape(prefix)}\.(\d+)\.", k))})


def _defines_class(module_src: str, name: str) -> bool:
    """Whether ``module_src`` defines a top-level class ``name`` (parsed, never run)."""
    try:
        tree = ast.parse(module_src)
    except (SyntaxError, ValueError, RecursionError):
        return False
    return any(isinstance(node, ast.ClassDef) and node.name == name for node in tree.body)


def require_next3d(record: NetworkRecord) -> None:
    """Refuses (ValueError, one line) anything but Next3D's generator: the bare class name
    ``TriPlaneGenerator`` whose saved module source defines that class (as `torch_utils.persistence`
    saves it) or a dotted name ending in ``triplane_next3d.TriPlaneGenerator``, with Next3D's own
    submodules (EG3D's generator has the same bare name but none of them)."""
    name = record.class_name
    submodules = {key.split(".", 1)[0] for key in record.state_dict}
    missing = [part for part in NEXT3D_PARTS if part not in submodules]
    if name == NEXT3D_CLASS and not _defines_class(record.module_src, name):
        problem = " whose saved module source does not define it"
    elif name != NEXT3D_CLASS and not name.endswith(LEGACY_NEXT3D_CLASS):
        problem = ""
    elif missing:
        problem = f" without {', '.join(missing)} (EG3D's generator?)"
    else:
        return
    raise ValueError(
        f"found class {name[:200]!r}{problem}; expected Next3D's {NEXT3D_CLASS} (class name "
        f"{NEXT3D_CLASS!r}, defined in the saved module source, or a name ending in {LEGACY_NEXT3D_CLASS!r})"
    )


def generator_config(record: NetworkRecord) -> dict[str, Any]:
    """`Next3DFaceGenerator` keyword arguments from a ``G_ema`` record."""
    require_next3d(record)
    tensors = record.state_dict
    kwargs = dict(zip(OFFICIAL_POSITIONAL, record.init_args, strict=False))
    kwargs.update(record.init_kwargs)
    if kwargs.get("img_channels", 3) != 3:
        raise ValueError(
            f"Next3D makes RGB images, this checkpoint has img_channels={kwargs['img_channels']}"
        )
    if isinstance(record.attributes.get("rendering_kwargs"), dict):  # what the official sampling code uses
        kwargs["rendering_kwargs"] = record.attributes["rendering_kwargs"]
    config = {key: kwargs.pop(key) for key in COMPONENT_ARGUMENTS if key in kwargs}
    for key in IGNORED_ARGUMENTS:
        kwargs.pop(key, None)
    config["synthesis_kwargs"] = kwargs  # what the official constructor forwards to every StyleGAN2 network
    plane_resolution = _largest_block(tensors, "texture_backbone.synthesis")
    config.update(
        num_faces=tensors["faces"].shape[1],
        num_uvs=tensors["raw_uvcoords"].shape[1],
        plane_resolution=plane_resolution,
        plane_channels=tensors[f"texture_backbone.synthesis.b{plane_resolution}.torgb.weight"].shape[0],
        mouth_resolution=4 * 2 ** _count_blocks(tensors, "mouth_backbone.synthesis.encoder"),  # down to 4 px
        sr_block_channels=(
            tensors["superresolution.block0.conv1.weight"].shape[0],
            tensors["superresolution.block1.conv1.weight"].shape[0],
        ),
        neural_rendering_resolution=int(record.attributes.get("neural_rendering_resolution") or 64),
    )
    return config


def load_next3d_checkpoint(
    checkpoint: str | Path,
    uv_face_mask: str | Path,
    network: str = "G_ema",
    **options,
) -> Next3DFaceGenerator:
    """A `Next3DFaceGenerator` with the official weights; ``options`` override config values
    (``depth_image_resolution``, ``truncation_psi``, ``blend``, ...)."""
    data = read_checkpoint(checkpoint)
    if network not in data:
        raise MalformedAssetError(Path(checkpoint), f"no network '{network}' (found {sorted(data)})")
    try:
        record = read_network(data[network])
        config = generator_config(record)
    except (KeyError, ValueError) as err:
        raise MalformedAssetError(
            Path(checkpoint), f"'{network}' is not a Next3D generator the converter knows: {err}"
        ) from err
    generator = Next3DFaceGenerator(**{**config, **options})
    missing, unexpected = generator.next3d.load_state_dict(record.state_dict, strict=False)
    if missing or unexpected:
        raise MalformedAssetError(
            Path(checkpoint),
            f"the state dict does not match Next3D's layout: {len(missing)} missing (first: {missing[:5]}), "
            f"{len(unexpected)} unexpected (first: {unexpected[:5]}). {WHERE}",
        )
    generator.uv_face_mask.copy_(read_uv_face_mask(uv_face_mask, config["plane_resolution"]))
    return generator.eval()
