"""Framing of generated faces and crops of real photos framed the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthforge_hf.data.framing import Framing, crop_box, crop_face, landmark_box, measure_framing
from synthforge_hf.evaluation.readers import DlibLandmarkXML

REAL_FACES = Path(__file__).resolve().parents[2] / "shared" / "real-faces"
needs_real_faces = pytest.mark.skipif(not REAL_FACES.is_dir(), reason="../shared/real-faces is absent")


def test_framing_by_hand():
    # Two faces in 100 px images: boxes 40 and 60 px wide, centred 5 px right of / 10 px below centre.
    face = np.zeros((68, 2))
    face[0], face[1] = (0, 0), (1, 1)
    boxes = [(35, 40, 40), (25, 30, 60)]  # left, top, size
    landmarks = np.stack([face * size + (left, top) for left, top, size in boxes])
    framing = measure_framing(landmarks, 100)
    assert framing.box_fraction == pytest.approx(0.5)
    # Image centre minus box centre (55, 60), in box sizes.
    assert framing.offset[0] == pytest.approx(np.median([-5 / 40, -5 / 60]))
    assert framing.offset[1] == pytest.approx(np.median([-10 / 40, -10 / 60]))
    with pytest.raises(ValueError, match="non-degenerate"):
        measure_framing(np.zeros((1, 68, 2)), 100)


def test_crop_box_puts_the_face_where_the_framing_says():
    framing = Framing(0.5, (0.1, -0.2))
    crop = crop_box(np.array([100.0, 50.0, 140.0, 80.0]), framing)  # 40 px wide face box
    side = crop[2] - crop[0]
    assert side == pytest.approx(80.0) and crop[3] - crop[1] == pytest.approx(80.0)
    crop_centre = (crop[:2] + crop[2:]) / 2
    np.testing.assert_allclose(crop_centre - [120.0, 65.0], np.array([0.1, -0.2]) * 40)


def test_crop_and_map_back_round_trip():
    photo = np.zeros((120, 200, 3), dtype=np.uint8)
    photo[70, 130] = 255  # one bright pixel, centre (130.5, 70.5)
    crop, to_photo = crop_face(Image.fromarray(photo), np.array([100.0, 40.0, 160.0, 100.0]), 240)
    pixels = np.asarray(crop, dtype=np.float64)[..., 0]
    ys, xs = np.nonzero(pixels)
    weights = pixels[ys, xs]
    centroid = np.array([(xs + 0.5) @ weights, (ys + 0.5) @ weights]) / weights.sum()
    back = to_photo[:, :2] @ centroid + to_photo[:, 2]
    np.testing.assert_allclose(back, [130.5, 70.5], atol=0.05)  # the dot maps back onto itself
    point = np.array([[12.25, 200.5]])
    photo_point = point @ to_photo[:, :2].T + to_photo[:, 2]
    inverse = (photo_point - to_photo[:, 2]) @ np.linalg.inv(to_photo[:, :2]).T
    np.testing.assert_allclose(inverse, point, atol=1e-3)


@needs_real_faces
def test_real_faces_are_read_and_cropped_with_every_landmark_inside():
    faces = [
        f
        for xml in ("training", "testing")
        for f in DlibLandmarkXML(REAL_FACES / f"{xml}_with_face_landmarks.xml")
    ]
    assert len(faces) == 43
    first = faces[0]
    assert first["landmarks"].shape == (68, 2) and first["image"].mode == "RGB"
    framing = Framing(0.55, (-0.01, -0.14))  # about what the default head's cameras give
    for face in faces:
        crop = crop_box(landmark_box(face["landmarks"] + 0.5), framing)
        points = face["landmarks"] + 0.5
        assert np.all(points >= crop[:2]) and np.all(points <= crop[2:])


def test_xml_errors_name_the_file(tmp_path):
    broken = tmp_path / "faces.xml"
    broken.write_text(
        "<dataset><images><image file='a.jpg'><box top='1' left='2' width='3' height='4'>"
        "<part name='00' x='1' y='2'/></box></image></images></dataset>"
    )
    with pytest.raises(ValueError, match="faces.xml.*1 of 68 parts"):
        DlibLandmarkXML(broken)
    with pytest.raises(FileNotFoundError, match="missing.xml"):
        DlibLandmarkXML(tmp_path / "missing.xml")
