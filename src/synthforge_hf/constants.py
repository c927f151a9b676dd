"""Label conventions shared by the generator, the dataset and the models, and the names of the files a
trained model's folder holds beside its weights.

Segmentation follows the official SynthForge label set (19 face classes + background). We store
class ids with ``0 = background`` (the usual convention for mask images); the official training
code puts background last, so ``official_id = (our_id - 1) % 20``.
"""

from __future__ import annotations

from pathlib import Path

SEGMENTATION_CLASSES: tuple[str, ...] = (
    "background",
    "face",
    "forehead",
    "eye_region",
    "neck",
    "right_eye_region",
    "left_eye_region",
    "right_eyeball",
    "left_eyeball",
    "left_eyebrow",
    "right_eyebrow",
    "eye_region+forehead",
    "left_ear",
    "right_ear",
    "lower_lip",
    "upper_lip",
    "inner_mouth",
    "nose",
    "scalp",
    "neck_back",
)
NUM_SEGMENTATION_CLASSES = len(SEGMENTATION_CLASSES)
CLASS_ID = {name: i for i, name in enumerate(SEGMENTATION_CLASSES)}

# Colours of the official colour-coded masks and of `flame_seg_tex` (sRGB, 0-255).
SEGMENTATION_COLORS: dict[str, tuple[int, int, int]] = {
    "background": (0x45, 0x45, 0x45),
    "face": (0xF5, 0xDC, 0xCB),
    "forehead": (0x44, 0x0F, 0x85),
    "eye_region": (0x9D, 0xAB, 0x3B),
    "neck": (0xE4, 0xF1, 0x8F),
    "right_eye_region": (0x75, 0x7A, 0xE4),
    "left_eye_region": (0xE5, 0xA5, 0xE7),
    "right_eyeball": (0x00, 0x00, 0xFF),
    "left_eyeball": (0xF6, 0x00, 0xFF),
    "left_eyebrow": (0x8F, 0xA9, 0xD3),
    "right_eyebrow": (0xD3, 0x8F, 0x8F),
    "eye_region+forehead": (0x65, 0x6B, 0x38),
    "left_ear": (0x00, 0xFF, 0x3C),
    "right_ear": (0xFC, 0xFF, 0x00),
    "lower_lip": (0x00, 0x88, 0x80),
    "upper_lip": (0xD9, 0x17, 0x17),
    "inner_mouth": (0x00, 0x2F, 0x99),
    "nose": (0xC6, 0x02, 0xAC),
    "scalp": (0x68, 0x35, 0x16),
    "neck_back": (0x50, 0x44, 0x3D),
}

# Left/right pairs swapped by a horizontal flip.
SEGMENTATION_FLIP_PAIRS: tuple[tuple[str, str], ...] = (
    ("right_eye_region", "left_eye_region"),
    ("right_eyeball", "left_eyeball"),
    ("left_eyebrow", "right_eyebrow"),
    ("left_ear", "right_ear"),
)


def _flip_permutation_from_pairs(n: int, pairs: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    perm = list(range(n))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return tuple(perm)


SEGMENTATION_FLIP_PERMUTATION = _flip_permutation_from_pairs(
    NUM_SEGMENTATION_CLASSES, tuple((CLASS_ID[a], CLASS_ID[b]) for a, b in SEGMENTATION_FLIP_PAIRS)
)

# What the mesh renderer draws in front of the head (`MeshFaceGenerator`'s optional parts), one class per
# pixel in its ``parts`` map beside the segmentation: CelebAMask-HQ's names where it has the class.
PART_CLASSES: tuple[str, ...] = ("none", "hair", "hat", "eye_g", "cloth", "hand", "face_mask", "object")
PART_ID = {name: i for i, name in enumerate(PART_CLASSES)}
PART_COLORS: dict[str, tuple[int, int, int]] = {
    "none": (0x00, 0x00, 0x00),
    "hair": (0xFF, 0x00, 0x00),
    "hat": (0xFF, 0xFF, 0x00),
    "eye_g": (0x00, 0xFF, 0xFF),
    "cloth": (0x00, 0x80, 0x00),
    "hand": (0xFF, 0x99, 0x33),
    "face_mask": (0x99, 0x66, 0xFF),
    "object": (0xFF, 0x33, 0x99),
}

NUM_LANDMARKS = 68
# iBUG / 300W 68-point layout: index ranges of each facial part.
LANDMARK_GROUPS: dict[str, range] = {
    "jaw": range(0, 17),
    "right_eyebrow": range(17, 22),
    "left_eyebrow": range(22, 27),
    "nose_bridge": range(27, 31),
    "nose_lower": range(31, 36),
    "right_eye": range(36, 42),
    "left_eye": range(42, 48),
    "outer_lip": range(48, 60),
    "inner_lip": range(60, 68),
}
# Pairs exchanged by a horizontal flip of the image (iBUG 68 order).
LANDMARK_FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    *((i, 16 - i) for i in range(8)),
    *((17 + i, 26 - i) for i in range(5)),
    (31, 35),
    (32, 34),
    (36, 45),
    (37, 44),
    (38, 43),
    (39, 42),
    (40, 47),
    (41, 46),
    (48, 54),
    (49, 53),
    (50, 52),
    (59, 55),
    (58, 56),
    (60, 64),
    (61, 63),
    (67, 65),
)
LANDMARK_FLIP_PERMUTATION = _flip_permutation_from_pairs(NUM_LANDMARKS, LANDMARK_FLIP_PAIRS)
# Outer eye corners, for inter-ocular normalisation (300W NME).
OUTER_EYE_CORNERS = (36, 45)

# Where every head model puts the midpoint of its outer eye corners (metres, head frame): the value
# on FLAME's mean head, so that cameras framed for FLAME (and Next3D) frame any head the same way.
HEAD_FRAME_EYE_MIDPOINT = (0.0, 0.0241, 0.0413)

# What `synthforge train-sb` / `train-lf` record in the output folder (read back by the model card).
TRAINING_ARGUMENTS_FILE = "training_args.json"

MAX_SEED = 2**63 - 1  # seeds are non-negative 63-bit integers, as the per-sample seeds are
# The reference model: the `small` SB trained on the embedded head's faces (spaces_app/make_model.sh),
# shipped with the package; what `synthforge analyse`, the face-analysis pipeline and the Space use unless
# told otherwise.
REFERENCE_MODEL = Path(__file__).resolve().parent / "reference_model"
