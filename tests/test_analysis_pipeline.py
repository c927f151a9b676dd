"""`pipeline("face-analysis")`: registered by importing synthforge_hf, every face of a photo with its box,
landmarks, mask and depth, faces batched across photos, and no question asked on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from synthforge_hf.constants import REFERENCE_MODEL
from synthforge_hf.data.framing import landmark_box
from synthforge_hf.evaluation.detection import box_iou
from synthforge_hf.evaluation.readers import DlibLandmarkXML

pytest.importorskip("dlib", reason="face detection needs dlib-bin (the `detect` extra)")

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = REFERENCE_MODEL
REAL_FACES = ROOT.parent / "shared" / "real-faces"
GROUP = REAL_FACES / "2008_001322.jpg"  # three labelled faces
pytestmark = [
    pytest.mark.skipif(not REAL_FACES.is_dir(), reason="../shared/real-faces is not here"),
    pytest.mark.slow,  # the whole file: see CONTRIBUTING.md, "Tests"
]


def _run(script: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=300, **kwargs
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_importing_the_package_costs_nothing_until_pipelines_load():
    result = _run(
        """
        import sys
        import synthforge_hf
        print("transformers" in sys.modules)
        from transformers.pipelines import PIPELINE_REGISTRY
        print("face-analysis" in PIPELINE_REGISTRY.get_supported_tasks())
        """
    )
    assert result.stdout.split() == ["False", "True"]


@pytest.mark.slow
def test_every_labelled_face_comes_with_its_box_landmarks_mask_and_depth(tmp_path):
    """In a fresh process, as a user runs it: each labelled face of the photo is found, its landmarks lie
    within its box and spread over it (points collapsed to one spot, as a broken model gives, do not)."""
    result = _run(
        f"""
        import json
        import numpy as np
        import synthforge_hf
        from transformers import pipeline

        analyse = pipeline("face-analysis", model={str(REFERENCE)!r})
        faces = analyse({str(GROUP)!r})
        for face in faces:
            assert face["mask"].size == (500, 375) and face["depth"].shape == (375, 500)
            assert np.asarray(face["mask"]).max() > 0 and face["depth"].max() > 0
        print(json.dumps([[face["box"], face["landmarks"].tolist()] for face in faces]))
        """,
        cwd=tmp_path,
    )

    faces = json.loads(result.stdout.strip().splitlines()[-1])
    labelled = [
        face
        for xml in ("testing_with_face_landmarks.xml", "training_with_face_landmarks.xml")
        for face in DlibLandmarkXML(REAL_FACES / xml)
        if Path(face["path"]).name == GROUP.name
    ]
    assert len(labelled) == 3
    for face in labelled:
        truth_box = landmark_box(np.asarray(face["landmarks"]) + 0.5)
        boxes = [[b["xmin"], b["ymin"], b["xmax"], b["ymax"]] for b, _ in faces]
        best = int(np.argmax(box_iou(np.asarray(boxes), truth_box[None])[:, 0]))
        assert box_iou(np.asarray(boxes[best])[None], truth_box[None])[0, 0] > 0.4
        points = np.asarray(faces[best][1])
        left, top, right, bottom = boxes[best]
        margin = 0.25 * (right - left)
        assert ((points[:, 0] > left - margin) & (points[:, 0] < right + margin)).all()
        assert ((points[:, 1] > top - margin) & (points[:, 1] < bottom + margin)).all()
        assert np.ptp(points[:, 0]) > 0.5 * (right - left)


@pytest.mark.slow
def test_faces_batch_across_photos_with_the_same_results():
    from transformers import pipeline

    import synthforge_hf  # noqa: F401

    analyse = pipeline("face-analysis", model=str(REFERENCE))
    photos = [str(GROUP), str(REAL_FACES / "2008_004176.jpg"), np.zeros((64, 64, 3), np.uint8)]
    one_by_one = [analyse(photo) for photo in photos]
    batched = analyse(photos, batch_size=4)
    assert [len(faces) for faces in batched] == [len(faces) for faces in one_by_one]
    assert len(batched[0]) >= 3 and len(batched[1]) >= 5 and batched[2] == []
    for alone, together in zip(one_by_one, batched, strict=True):
        for a, b in zip(alone, together, strict=True):
            assert a["box"] == b["box"]
            np.testing.assert_allclose(a["landmarks"], b["landmarks"], atol=0.05)  # float paths of a batch


@pytest.mark.slow
def test_no_question_is_asked_on_a_terminal(tmp_path):
    """transformers asks, on a terminal, whether to run a folder's code when it probes for components the
    package did not register; the pipeline loads only what it uses."""
    script = (
        "import synthforge_hf\n"
        "from transformers import pipeline\n"
        f"print(len(pipeline('face-analysis', model={str(REFERENCE)!r})({str(GROUP)!r})))\n"
    )
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-c", script],
            stdin=follower,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
    finally:
        os.close(leader)
        os.close(follower)
    assert "Do you wish to run the custom code" not in result.stdout + result.stderr
    assert result.returncode == 0 and int(result.stdout.split()[-1]) >= 3
