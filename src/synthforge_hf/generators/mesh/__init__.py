"""The mesh backend: `MeshFaceGenerator` renders the head mesh itself, so every pixel's label is exact.

Appearance is a deterministic function of a latent vector of uniform numbers (`LATENT_FIELDS`), so a
sample is reproducible from its latents alone; the few fields named ``*_seed`` seed the generators of
the procedural textures and the background clutter. Labels never depend on it: they come from the
rasterized mesh before any shading; only the optional parts (`APPEARANCE_PARTS`, off by default) draw
what the mesh does not hold and say so in the labels (`GeneratorOutput.occluder_depth` and
``occluder_labels``, ``segmentation``). One module per stage:

- `parameters`: the latent's fields and the per-sample parameters (colours, amounts, material) they
  map to.
- `appearance`: the albedo. Skin tone, redness and olive tint, regional colour (cheeks, nose, under the
  eyes), blotches, freckles and pores from band-limited noise attached to the head surface (rest-pose
  coordinates, so textures move with the skin; `noise`, `geometry`); stubble or a beard on the lower
  face, brows as strokes, hair with strands flowing from the crown and a soft hairline. Everything is
  painted inside its own classes (or on skin).
- `eyes`: irises with fibres, a limbal ring and pupil; lashes and lid lines along the eye openings, and
  the lid's shadow; optionally the lids closed to the eye landmarks' margins.
- `mouth`, `clothing`, `glasses`, `hair`, `hats`, `occluders`, `held_objects`, `skin_detail`, `scenes`
  (optional parts): teeth and tongue; shoulders in a garment; eyeglasses and sunglasses; hair with volume
  over the skull, in styles (fringes, long, curls); beanies and caps; hands and face masks; a phone, a cup
  or a microphone held up; make-up and lines of age; rooms and outdoor scenes behind the head. `in_front`
  composites the parts drawn in front of the head by depth and records the labels they take.
- `lighting`: in linear RGB, a key, a fill and a rim light with colour temperatures, a hemisphere
  ambient tinted by the background, screen-space ambient occlusion from the depth map, the key light's
  cast shadow, wrapped diffuse with a subsurface-like softening of the light on skin, Blinn-Phong
  speculars whose strength follows an oiliness map (none on brows and beards), wet eyes, and
  Kajiya-Kay highlights on hair.
- `background`: gradients, multi-scale colour noise and random soft shapes (rectangles, ellipses,
  stripes), blurred by a random depth of field.
- `camera`: exposure, white balance, vignetting, lens blur, a soft highlight shoulder, gamma and sensor
  noise.
- `generator`: the diffusers component that runs them over a batch.
"""

# diffusers picks a saved component's loader by looking ``ModelMixin`` up in the module its
# model_index.json names, which is this package (see FaceGenerator's docstring).
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401

from .appearance import INNER_MOUTH
from .generator import APPEARANCE_PARTS, MeshFaceGenerator
from .geometry import vertex_normals
from .lighting import LIGHT_COLOURS
from .parameters import _FIELD as _FIELD  # the latent's field indices by name (tests set fields with it)
from .parameters import HAIR_COLOURS, IRIS_COLOURS, LATENT_FIELDS, SCLERA, SKIN_TONES

__all__ = [
    "APPEARANCE_PARTS",
    "HAIR_COLOURS",
    "INNER_MOUTH",
    "IRIS_COLOURS",
    "LATENT_FIELDS",
    "LIGHT_COLOURS",
    "SCLERA",
    "SKIN_TONES",
    "MeshFaceGenerator",
    "vertex_normals",
]
