"""The mesh backend as a package: its modules import, the public path keeps naming the class the
pipeline uses (saved pipelines and dataset fingerprints record it), and a fixed render stays the same."""

import importlib
import pkgutil
from pathlib import Path

import numpy as np
import pytest
import torch

import synthforge_hf
import synthforge_hf.generators.mesh as mesh
from synthforge_hf.pipelines.synthforge import SynthForgePipeline
from synthforge_hf.pipelines.synthforge.assets import GENERATORS

# A 48 px render (float32, H x W x 3) of `_reference_render`, made by the mesh backend as one module
# (git 2d3ed06) before it became this package; the package rendered it bit-identically. Re-record it
# (`.venv/bin/python -m tests.test_mesh_package`) only for an intended change to what this render shows:
# the mesh backend's appearance, or the default head's geometry or labels.
REFERENCE = Path(__file__).with_name("mesh_reference_48px.npy")
# Float paths differ across CPUs (vectorised or not: up to 6e-6 here, 1.6e-7 on average), so the render
# is compared to tolerances well above that and far below any visible change (1/255 = 4e-3).
MAX_DIFFERENCE, MEAN_DIFFERENCE = 1e-4, 1e-6


def _reference_render() -> np.ndarray:
    """A frontal-ish default head with fixed appearance latents that switch on the optional layers
    (beard, freckles, rim light, background shapes, scalp hair, brows), in focus."""
    pipe = SynthForgePipeline.from_default_head()
    pipe.set_progress_bar_config(disable=True)
    head = pipe.head_model
    latents = torch.rand(1, pipe.face_generator.latent_dim, generator=torch.Generator().manual_seed(7))
    overrides = {
        "beard": 0.9,
        "freckles": 0.9,
        "rim_light": 0.9,
        "background_clutter": 0.9,
        "hair_density": 0.6,
        "brow_density": 0.8,
        "camera_blur": 0.0,
        "background_blur": 0.0,
    }
    for name, value in overrides.items():
        latents[0, mesh._FIELD[name]] = value
    out = pipe(
        shape=torch.zeros(1, head.num_shape),
        expression=torch.zeros(1, head.num_expression),
        yaw=0.35,
        pitch=-0.1,
        fov=16.0,
        latents=latents,
        seeds=[0],
        resolution=48,
        output_type="np",
    )
    return out.images[0]


def test_every_module_of_the_package_imports_and_says_its_job():
    names = [info.name for info in pkgutil.iter_modules(mesh.__path__)]
    assert {"appearance", "background", "camera", "eyes", "generator", "lighting"} <= set(names)
    for name in names:
        module = importlib.import_module(f"{mesh.__name__}.{name}")
        assert module.__doc__ and module.__doc__.strip(), name


def test_the_public_path_names_the_class_the_pipeline_uses():
    pipe = SynthForgePipeline.from_default_head()
    assert type(pipe.face_generator) is mesh.MeshFaceGenerator
    assert synthforge_hf.MeshFaceGenerator is mesh.MeshFaceGenerator is GENERATORS["mesh"]
    # What model_index.json records (and dataset fingerprints hash): the path saved pipelines were made
    # with. diffusers loads the class from that module and looks its loader up there by name.
    assert tuple(pipe.config["face_generator"]) == ("synthforge_hf.generators.mesh", "MeshFaceGenerator")
    assert mesh.ModelMixin is importlib.import_module("diffusers.models.modeling_utils").ModelMixin


def test_config_keys_are_the_old_ones_and_the_parts_added_since_off_by_default():
    """A component saved before the parts existed (no key for them) loads with them off, as it rendered."""
    generator = mesh.MeshFaceGenerator()
    config = {key for key in generator.config if not key.startswith("_")}
    parts = set(mesh.APPEARANCE_PARTS)
    assert parts == {
        "clothing",
        "lids_follow_landmarks",
        "teeth",
        "glasses",
        "hair_volume",
        "hair_styles",
        "scenes",
        "occluders",
        "skin_detail",
        "hats",
    }
    assert config == {"latent_dim", "iris_angle", "pupil_angle", "skin_texture_strength", *parts}
    assert not any(generator.config[part] for part in parts)


def test_the_reference_render_is_unchanged():
    reference = np.load(REFERENCE)
    image = _reference_render()
    assert image.shape == reference.shape == (48, 48, 3) and image.dtype == reference.dtype == np.float32
    difference = np.abs(image - reference)
    assert difference.max() <= MAX_DIFFERENCE, difference.max()
    assert difference.mean() <= MEAN_DIFFERENCE, difference.mean()


@pytest.mark.parametrize("name", ["vertex_normals", "LATENT_FIELDS", "SKIN_TONES", "LIGHT_COLOURS"])
def test_names_of_the_former_module_are_still_exported(name):
    assert hasattr(mesh, name)


if __name__ == "__main__":
    np.save(REFERENCE, _reference_render())
    print(f"wrote {REFERENCE}")
