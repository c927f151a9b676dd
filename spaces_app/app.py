"""SynthForge Space: analyse a face photo with the SB / LF models, or generate an annotated face.

python spaces_app/app.py                       # the reference model shipped with synthforge-hf
SYNTHFORGE_MODEL=runs/sb python spaces_app/app.py   # another SB folder or Hub id
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np
import torch

import synthforge_hf.models.synthforge  # noqa: F401 (registers the Auto classes)
from synthforge_hf.analysis import PhotoAnalyser, whole_image_box
from synthforge_hf.constants import REFERENCE_MODEL
from synthforge_hf.io.images import as_rgb8, open_photo
from synthforge_hf.pipelines.synthforge import SynthForgePipeline
from synthforge_hf.visualization import colorize_depth, colorize_segmentation, draw_landmarks

EXAMPLE_PHOTOS = sorted((Path(__file__).resolve().parent / "examples").glob("*.jpg"))  # public domain
MIN_FACE_FRACTION = 0.02  # below this share of face pixels: "no face found"
DISPLAY_SIZE = 512


class Analyser:
    """Every face of a photo through the SB (or its folder / Hub id): detected by dlib and cropped as the
    training data framed faces; an image without a detected face is taken as one face crop."""

    def __init__(self, model_id: str | None):
        self.model_id = model_id
        self.photos = PhotoAnalyser.from_pretrained(model_id) if model_id else None

    @torch.no_grad()
    def __call__(self, image: str | np.ndarray | None):
        """Analyse an uploaded photo file (read upright as its EXIF orientation says, and refused from
        its header when too large to decode) or an image array."""
        if self.photos is None:
            raise gr.Error(
                "No analysis model is loaded: set SYNTHFORGE_MODEL to a trained SB folder or Hub id."
            )
        if image is None:
            raise gr.Error("Upload a face photo first.")
        try:
            rgb = open_photo(image) if isinstance(image, str) else as_rgb8(image)
        except ValueError as error:  # the server's copy of the upload is no name to show its user
            message = str(error).replace(str(image), "The photo") if isinstance(image, str) else str(error)
            raise gr.Error(message) from None
        if min(rgb.shape[:2]) < 8:
            raise gr.Error(f"That does not look like a photo ({rgb.shape[1]}x{rgb.shape[0]} pixels).")
        result = self.photos(rgb)
        if not result.faces:
            box = whole_image_box(*rgb.shape[:2], self.photos.processor.framing)
            result = self.photos(rgb, boxes=[box])
            if (result.parsing > 0).mean() < MIN_FACE_FRACTION:
                raise gr.Error("No face found in this image. Try a photo with a clearly visible face.")
        record = {"model": self.model_id, **result.to_json()}
        path = os.path.join(tempfile.mkdtemp(), "synthforge_analysis.json")
        with open(path, "w") as handle:
            json.dump(record, handle)
        return (*result.panels(rgb), path)  # served as PNG (format="png"): exact label colours


class Generator:
    """A saved pipeline (e.g. one with the converted Next3D generator: $SYNTHFORGE_PIPELINE), or the
    embedded default head with the mesh backend (CPU)."""

    def __init__(self, pipeline_id: str | None = None):
        if pipeline_id:
            self.pipe = SynthForgePipeline.from_pretrained(pipeline_id)
            if torch.cuda.is_available():
                self.pipe = self.pipe.to("cuda")
        else:
            self.pipe = SynthForgePipeline.from_default_head()
        self.pipe.set_progress_bar_config(disable=True)

    def __call__(
        self, identity: float, expression: float, jaw: float, yaw: float, pitch: float, fov: float, seed: int
    ):
        head = self.pipe.head_model
        generator = torch.Generator().manual_seed(int(seed))
        shape = (torch.rand(1, head.num_shape, generator=generator) * 2 - 1) * identity
        expr = (torch.rand(1, head.num_expression, generator=generator) * 2 - 1) * expression
        if head.config.expression_bounds is not None:  # one-sided blendshape weights (ICT-FaceKit)
            expr = expr.abs().clamp(*head.config.expression_bounds)
        pose = torch.zeros(1, 15)
        pose[0, 6] = jaw
        out = self.pipe(
            shape=shape,
            expression=expr,
            pose=pose,
            yaw=torch.tensor([yaw]),
            pitch=torch.tensor([pitch]),
            fov=torch.tensor([fov]),
            seeds=[int(seed)],
            resolution=DISPLAY_SIZE,
            output_type="pil",
        )
        image = out.images[0]
        return (
            image,
            colorize_segmentation(out.segmentation[0]),
            draw_landmarks(image, out.landmarks_2d[0], out.landmark_visibility[0], radius=3),
            colorize_depth(out.depth[0]),
        )


def default_model_id() -> str | None:
    """$SYNTHFORGE_MODEL, else the reference model shipped with the package."""
    return os.environ.get("SYNTHFORGE_MODEL") or str(REFERENCE_MODEL)


def build_demo(model_id: str | None = None, pipeline_id: str | None = None) -> gr.Blocks:
    analyser, generator = Analyser(model_id), Generator(pipeline_id)
    with gr.Blocks(title="SynthForge") as demo:
        gr.Markdown(
            "# SynthForge\nFace analysis trained on synthetic faces with exact labels, and the "
            "generator that makes them."
        )
        with gr.Tab("Analyse"):
            with gr.Row():
                photo = gr.Image(label="Face photo", type="filepath", image_mode=None, elem_id="photo")
                with gr.Column():
                    overlay = gr.Image(label="Landmarks", elem_id="landmarks", format="png")
                    parsing = gr.Image(label="Parsing", elem_id="parsing", format="png")
                    depth = gr.Image(label="Depth", elem_id="depth", format="png")
                    download = gr.File(label="Annotations (JSON)", elem_id="json")
            gr.Button("Analyse", variant="primary", elem_id="analyse").click(
                analyser, inputs=photo, outputs=[overlay, parsing, depth, download], api_name="analyse"
            )
            if analyser.photos is not None:
                gr.Examples(
                    examples=[[str(path)] for path in EXAMPLE_PHOTOS],
                    inputs=photo,
                    outputs=[overlay, parsing, depth, download],
                    fn=analyser,
                    cache_examples=True,
                    cache_mode="lazy",  # each example is analysed once, when first chosen
                    label="Example photo (public domain)",
                )
        with gr.Tab("Generate"):
            with gr.Row():
                with gr.Column():
                    sliders = [
                        gr.Slider(0, 2, value=1, label="Identity"),
                        gr.Slider(0, 2, value=0.5, label="Expression"),
                        gr.Slider(0, 0.4, value=0, label="Jaw open (rad)"),
                        gr.Slider(-0.8, 0.8, value=0, label="Yaw (rad)"),
                        gr.Slider(-0.8, 0.8, value=0, label="Pitch"),
                        gr.Slider(12, 27, value=18.8, label="FOV (deg)"),
                        gr.Number(value=0, precision=0, label="Seed"),
                    ]
                    run = gr.Button("Generate", variant="primary", elem_id="generate")
                with gr.Column():
                    outputs = [
                        gr.Image(label=name, format="png")
                        for name in ("Image", "Segmentation", "Landmarks", "Depth")
                    ]
            run.click(generator, inputs=sliders, outputs=outputs, api_name="generate")
    return demo


if __name__ == "__main__":
    build_demo(default_model_id(), os.environ.get("SYNTHFORGE_PIPELINE")).launch()
