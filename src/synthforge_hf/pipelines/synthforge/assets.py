"""A `SynthForgePipeline`'s head and image backend, given as components or named with their folders.

The pipeline imports this module, and with it every component module a saved pipeline's
model_index.json may name: diffusers resolves components from modules the process has already
imported, so that loading a repository never imports code because the repository names it.
"""

from __future__ import annotations

from pathlib import Path

from ...generators.base import FaceGenerator
from ...generators.mesh import MeshFaceGenerator
from ...generators.next3d.generator import Next3DFaceGenerator
from ...head.default_head import build_default_head
from ...head.flame import load_flame_from_dir
from ...head.ict_facekit import load_ict_facekit
from ...head.model import ParametricHeadModel

HEADS = ("default", "flame", "ict-facekit")
GENERATORS = {"mesh": MeshFaceGenerator, "next3d": Next3DFaceGenerator}


def load_head(head: ParametricHeadModel | str, head_dir: str | Path | None = None) -> ParametricHeadModel:
    """``head`` itself, or the head it names: "default" (embedded, no folder), "flame" (the FLAME files
    in ``head_dir``) or "ict-facekit" (the ICT-FaceKit folder ``head_dir``)."""
    if isinstance(head, ParametricHeadModel) or head == "default":
        if head_dir is not None:
            raise ValueError("head_dir is read only for a head named 'flame' or 'ict-facekit'")
        return head if isinstance(head, ParametricHeadModel) else build_default_head()
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}: pass a ParametricHeadModel or one of {HEADS}")
    if head_dir is None:
        raise ValueError(f"head {head!r} needs head_dir, the folder with its files")
    return load_flame_from_dir(head_dir) if head == "flame" else load_ict_facekit(head_dir)


def load_generator(generator: FaceGenerator | str, generator_dir: str | Path | None = None) -> FaceGenerator:
    """``generator`` itself, or the image backend it names: "mesh" (the mesh renderer; its defaults, or
    the component saved in ``generator_dir``) or "next3d" (a converted component in ``generator_dir``).
    ``generator_dir`` may also be a saved pipeline: its ``face_generator/`` is read."""
    if isinstance(generator, FaceGenerator):
        if generator_dir is not None:
            raise ValueError("generator_dir is read only for a generator given by name")
        return generator
    if generator not in GENERATORS:
        raise ValueError(
            f"unknown generator {generator!r}: pass a FaceGenerator or one of {tuple(GENERATORS)}"
        )
    if generator_dir is None:
        if generator == "next3d":
            raise ValueError("generator 'next3d' needs generator_dir, a converted component (convert_next3d)")
        return GENERATORS[generator]()
    folder = Path(generator_dir)
    if (folder / "face_generator").is_dir():
        folder = folder / "face_generator"
    return GENERATORS[generator].from_pretrained(folder)
