"""The Gradio Space, launched on loopback and driven through gradio_client (as a user's API calls)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

gradio = pytest.importorskip("gradio", reason="the Space needs the `space` extra (gradio)")
from gradio_client import Client, handle_file  # noqa: E402

from synthforge_hf.models.synthforge import (  # noqa: E402
    SynthForgeConfig,
    SynthForgeForFaceAnalysis,
    SynthForgeImageProcessor,
)

from .browser import analyse_in_browser  # noqa: E402
from .photo_files import save_with_orientation, write_blank_png  # noqa: E402

APP = Path(__file__).resolve().parents[1] / "spaces_app" / "app.py"


def _app_module():
    spec = importlib.util.spec_from_file_location("synthforge_space_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sb")
    torch.manual_seed(0)
    model = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny())
    with torch.no_grad():
        model.segmentation_head.out.bias[1] = 50.0  # always "face": the app then reports a face
    model.save_pretrained(folder)
    SynthForgeImageProcessor(size=64).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def client(model_dir):
    demo = _app_module().build_demo(str(model_dir))
    _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield Client(url, verbose=False)
    demo.close()


def test_analyse_returns_overlays_at_the_photo_size_and_json(client, tmp_path):
    photo = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 60, 3), dtype=np.uint8)).save(photo)
    overlay, parsing, depth, annotations = client.predict(handle_file(str(photo)), api_name="/analyse")
    for path in (overlay, parsing, depth):
        assert Image.open(path).size == (60, 90)
    for path in (overlay, parsing, depth):
        assert Image.open(path).format == "PNG"  # lossless: parsing colours are exactly the palette's
    record = json.loads(Path(annotations).read_text())
    # No face is detected in noise, so the image is taken as one face crop.
    (face,) = record["faces"]
    assert np.asarray(face["landmarks_68"]).shape == (68, 2) and record["image_size"] == [60, 90]
    assert record["class_pixels"]["face"] == 60 * 90


def test_grayscale_and_rgba_photos_work(client, tmp_path):
    for mode, name in (("L", "gray.png"), ("RGBA", "rgba.png")):
        Image.new(mode, (40, 50)).save(tmp_path / name)
        overlay = client.predict(handle_file(str(tmp_path / name)), api_name="/analyse")[0]
        assert Image.open(overlay).size == (40, 50)


def test_bad_inputs_give_messages_not_tracebacks(client, tmp_path):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Upload a face photo"):
        client.predict(None, api_name="/analyse")
    huge = write_blank_png(tmp_path / "huge.png", 13000, 13000)  # refused from its header, not decoded
    with pytest.raises(AppError, match="The photo: 13000x13000 pixels, more than the 64,000,000"):
        client.predict(handle_file(str(huge)), api_name="/analyse")


def test_a_phone_photo_is_analysed_upright(client, tmp_path):
    """A picture stored sideways with an EXIF orientation, as phones save them: the results come at the
    size of the upright picture."""
    upright = np.random.default_rng(2).integers(0, 255, (90, 60, 3), dtype=np.uint8)
    photo = save_with_orientation(upright, 6, tmp_path / "phone.jpg")
    assert Image.open(photo).size == (90, 60)  # stored turned
    overlay, _, _, annotations = client.predict(handle_file(str(photo)), api_name="/analyse")
    assert Image.open(overlay).size == (60, 90)
    assert json.loads(Path(annotations).read_text())["image_size"] == [60, 90]


def test_no_face_message(model_dir):
    app = _app_module()
    analyser = app.Analyser(str(model_dir))
    with torch.no_grad():
        analyser.photos.model.segmentation_head.out.bias[0] = 500.0  # everything background
    with pytest.raises(gradio.Error, match="No face found"):
        analyser(np.zeros((64, 64, 3), dtype=np.uint8))


def test_generate_tab(client):
    image, segmentation, landmarks, depth = client.predict(
        1.0, 0.5, 0.1, 0.3, -0.1, 20.0, 3, api_name="/generate"
    )
    assert Image.open(image).size == (512, 512)
    classes = np.unique(np.asarray(Image.open(segmentation).convert("RGB")).reshape(-1, 3), axis=0)
    assert len(classes) > 8  # background and many face parts
    assert Image.open(depth).size == (512, 512) and Image.open(landmarks).size == (512, 512)


@pytest.mark.slow
def test_page_in_a_headless_browser(model_dir, tmp_path):
    demo = _app_module().build_demo(str(model_dir))
    _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        photo = tmp_path / "face.png"
        Image.fromarray(np.random.default_rng(1).integers(0, 255, (80, 80, 3), dtype=np.uint8)).save(photo)
        screenshot = Path(__file__).resolve().parents[1] / "test-artifacts" / "space_analyse.png"
        analyse_in_browser(url, photo, screenshot)
    finally:
        demo.close()


def test_generate_from_a_saved_pipeline(tmp_path):
    from synthforge_hf.pipelines.synthforge import SynthForgePipeline

    SynthForgePipeline.from_default_head().save_pretrained(tmp_path / "pipeline")
    generator = _app_module().Generator(str(tmp_path / "pipeline"))
    saved = generator(1.0, 0.5, 0.0, 0.2, 0.0, 18.8, 5)
    default = _app_module().Generator()(1.0, 0.5, 0.0, 0.2, 0.0, 18.8, 5)
    assert np.array_equal(np.asarray(saved[0]), np.asarray(default[0]))  # the same pipeline, reloaded


def test_a_group_photo_gives_every_face(tmp_path):
    """The reference model on a real photo with three people: three faces, each with landmarks that
    span its detected box (the box is in the landmark-box convention; points collapsed to a crop's
    centre, as a broken model gives, span almost nothing)."""
    pytest.importorskip("dlib", reason="face detection needs dlib-bin (the `detect` extra)")
    from synthforge_hf.data.framing import landmark_box
    from synthforge_hf.evaluation.detection import box_iou

    photo = Path(__file__).resolve().parents[2] / "shared" / "real-faces" / "2008_001322.jpg"
    if not photo.is_file():
        pytest.skip("../shared/real-faces is not here")
    app = _app_module()
    record = json.loads(
        Path(app.Analyser(app.default_model_id())(np.asarray(Image.open(photo)))[3]).read_text()
    )
    assert len(record["faces"]) == 3
    for face in record["faces"]:
        assert box_iou(face["box"], landmark_box(np.asarray(face["landmarks_68"])))[0, 0] > 0.5
