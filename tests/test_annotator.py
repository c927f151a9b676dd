import pytest
import torch

from synthforge_hf.constants import CLASS_ID, SEGMENTATION_COLORS
from synthforge_hf.head.model import ParametricHeadModel
from synthforge_hf.rendering.annotator import FaceAnnotator
from synthforge_hf.rendering.cameras import WORLD_UNITS_PER_METRE, Cameras

from .meshes import quad


def _two_quads_head():
    """A near quad (label nose) in front of a far quad (label scalp); landmarks placed by hand."""
    near_v, near_f = quad(z=0.6, half_size=0.2)
    far_v, far_f = quad(z=0.0, half_size=1.0)
    verts = torch.cat([near_v, far_v])
    faces = torch.cat([near_f, far_f + 4])
    head = ParametricHeadModel(num_vertices=8, num_faces=4, num_shape=1, num_expression=1)
    head.v_template.copy_(verts)
    head.faces.copy_(faces)
    head.vertex_labels.copy_(torch.tensor([CLASS_ID["nose"]] * 4 + [CLASS_ID["scalp"]] * 4))
    return head, verts


def test_labels_depth_and_visibility_of_a_known_scene(torch_device):
    head, verts = _two_quads_head()
    head, verts = head.to(torch_device), verts.to(torch_device)
    landmarks = torch.zeros(1, 68, 3, device=torch_device)
    landmarks[0, 0] = torch.tensor([0.0, 0.0, 0.6])  # on the near quad: visible
    landmarks[0, 1] = torch.tensor([0.0, 0.0, 0.0])  # behind the near quad: hidden
    landmarks[0, 2] = torch.tensor([0.3, 0.3, 0.0])  # on the far quad, beside the near one: visible
    landmarks[0, 3] = torch.tensor([5.0, 0.0, 0.0])  # outside the image
    cams = Cameras.orbit(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([25.0])).to(torch_device)
    annotator = FaceAnnotator(rasterizer="open3d").to(torch_device)  # PyTorch3D leaves out the far quad's
    # diagonal (pixel centres exactly on an edge two triangles share)
    out = annotator(head, verts[None], landmarks, cams, 64)
    for name in ("segmentation", "depth", "landmarks_2d", "landmarks_3d", "landmark_visibility"):
        assert getattr(out, name).device.type == torch.device(torch_device).type, name
    seg = out.segmentation[0]
    assert seg[32, 32] == CLASS_ID["nose"] and seg[2, 2] == CLASS_ID["scalp"]
    assert (seg > 0).all()  # the far quad fills the view
    # Depth in metres: world distance / WORLD_UNITS_PER_METRE.
    assert out.depth[0, 32, 32].item() == pytest.approx((2.9 - 0.6) / WORLD_UNITS_PER_METRE, abs=1e-5)
    assert out.depth[0, 2, 2].item() == pytest.approx(2.9 / WORLD_UNITS_PER_METRE, abs=1e-5)
    assert out.landmark_visibility[0, :4].tolist() == [True, False, True, False]
    assert out.landmarks_3d[0, 0].tolist() == pytest.approx([0.0, 0.0, 2.3 / WORLD_UNITS_PER_METRE], abs=1e-5)
    assert out.landmarks_2d[0, 0].tolist() == pytest.approx([32.0, 32.0], abs=1e-3)


def test_colorize_gives_the_official_colour_codes(torch_device):
    annotator = FaceAnnotator()
    seg = torch.tensor(
        [[0, CLASS_ID["nose"]], [CLASS_ID["left_ear"], CLASS_ID["neck_back"]]], device=torch_device
    )
    colours = annotator.colorize(seg)
    assert colours.device == seg.device
    assert colours[0, 1].tolist() == list(SEGMENTATION_COLORS["nose"])
    assert colours[1, 0].tolist() == list(SEGMENTATION_COLORS["left_ear"])
    assert colours[0, 0].tolist() == list(SEGMENTATION_COLORS["background"])


def test_bad_arguments_are_rejected():
    head, verts = _two_quads_head()
    cams = Cameras.orbit(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([25.0]))
    with pytest.raises(ValueError, match="resolution"):
        FaceAnnotator()(head, verts[None], torch.zeros(1, 68, 3), cams, 0)
    with pytest.raises(ValueError, match="unknown rasterizer"):
        FaceAnnotator(rasterizer="opengl")
