"""The part map (`generator_outputs["parts"]`): which part the mesh renderer drew in front of the head at
each pixel, exactly where the part changed the image and the segmentation, kept as a dataset column."""

import numpy as np
import pytest
from datasets import Image, load_dataset
from huggingface_hub import DatasetCard
from scipy.ndimage import binary_dilation

from synthforge_hf.constants import CLASS_ID, PART_CLASSES, PART_ID
from synthforge_hf.data.generate import generate_dataset
from synthforge_hf.generators.mesh import MeshFaceGenerator
from synthforge_hf.hub.dataset_card import write_dataset_card
from synthforge_hf.pipelines.synthforge import SynthForgePipeline

from .parts import without_and_with

SEEDS = list(range(24))
# Each option drawn in front of the head and the classes its parts take in the part map.
PARTS = {
    "glasses": {"eye_g"},
    "hats": {"hat"},
    "clothing": {"cloth"},
    "occluders": {"hand", "face_mask", "object"},
    "hair_volume": {"hair"},
}


@pytest.mark.parametrize("option", list(PARTS))
def test_a_part_is_mapped_where_it_changed_the_image_and_the_labels(option):
    bare, dressed = without_and_with(option, SEEDS, 64, pitch=0.3)
    assert bare.generator_outputs == {}  # nothing drawn in front, no map
    parts = dressed.generator_outputs["parts"]
    assert parts.dtype == np.uint8 and parts.shape == dressed.segmentation.shape
    assert {PART_CLASSES[k] for k in np.unique(parts)} <= PARTS[option] | {"none"}
    mapped = parts > 0
    changed = np.abs(dressed.images - bare.images).max(-1) > 1e-5
    # A part shows on a sample exactly when it changes its image...
    np.testing.assert_array_equal(mapped.any(axis=(1, 2)), changed.any(axis=(1, 2)))
    assert mapped.any(axis=(1, 2)).sum() >= 2
    # ...and only about where it is: the camera's blur spreads a part's edge by a pixel or two.
    for k in np.flatnonzero(mapped.any(axis=(1, 2))):
        assert (binary_dilation(mapped[k], iterations=3) | ~changed[k]).all()
        assert changed[k][mapped[k]].mean() > 0.9
    # The labels change only under the map, and there they say what the part covers.
    relabelled = dressed.segmentation != bare.segmentation
    assert (mapped | ~relabelled).all()
    hair = parts == PART_ID["hair"]
    assert (dressed.segmentation[hair] == CLASS_ID["scalp"]).all()
    opaque = mapped & ~hair & (parts != PART_ID["eye_g"])
    assert (dressed.segmentation[opaque] == 0).all()


def test_glasses_map_their_lenses_as_well_as_their_frames():
    bare, dressed = without_and_with("glasses", SEEDS, 64)
    parts = dressed.generator_outputs["parts"]
    glasses = parts == PART_ID["eye_g"]
    # Behind a lens the face keeps its classes: the eyes show through.
    kept = glasses & (dressed.segmentation == bare.segmentation) & (bare.segmentation > 0)
    assert kept.sum() > 0.3 * glasses.sum()
    eyes = np.isin(dressed.segmentation, [CLASS_ID["right_eyeball"], CLASS_ID["left_eyeball"]])
    wearing = glasses.any(axis=(1, 2))
    assert (glasses & eyes)[wearing].any(axis=(1, 2)).all()


def test_the_part_map_is_a_dataset_column_that_regenerates_from_the_seed(tmp_path):
    pipe = SynthForgePipeline.from_assets("default", MeshFaceGenerator(glasses=True, occluders=True))
    generate_dataset(pipe, tmp_path, {"train": 12}, shard_size=6, resolution=48, progress=False)
    write_dataset_card(tmp_path)
    rows = load_dataset(str(tmp_path), split="train")
    assert isinstance(rows.features["parts"], Image)
    stored = np.stack([np.asarray(row["parts"]) for row in rows])
    out = pipe(seeds=rows["seed"], resolution=48, output_type="np")
    np.testing.assert_array_equal(stored, out.generator_outputs["parts"])
    assert stored.max() > 0 and rows[0]["parts"].mode == "P"  # ids as values, shown in colours
    card = DatasetCard.load(tmp_path / "README.md").text
    assert "### Part classes" in card and "| `parts` |" in card
    for k, name in enumerate(PART_CLASSES):
        assert f"| {k} | `{name}` |" in card
