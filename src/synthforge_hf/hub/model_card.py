"""Model cards of the SB and LF models, with `model-index` results read from evaluation runs."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers import AutoConfig

from ..models import synthforge as _sb  # noqa: F401  (registers the SB's Auto classes)
from ..models import synthforge_lf as _lf  # noqa: F401  (registers the LF's)

BENCHMARK_NAMES = {
    "300w": "300W",
    "lapa": "LaPa",
    "celebamask-hq": "CelebAMask-HQ",
    "synthforge-default-head": "Generated faces (embedded default head)",
    "real-faces": "Real photos (43 faces, dlib 68-point labels)",
}
TRAINING_DATA = {
    "default-head": (
        "A graphics baseline: faces rendered by synthforge-hf's mesh backend from its embedded default "
        "head (procedural geometry, exact labels), not Next3D images. Made and trained on 2 CPU cores by "
        "`bash spaces_app/make_model.sh`."
    ),
}
LICENSE_TEXT = {
    "apache-2.0": "Apache-2.0. The training data were rendered from the embedded head of synthforge-hf.",
    "other": "Weights derived from FLAME-based data carry the FLAME licence (non-commercial research); data "
    "rendered with Next3D carry its licence (NVIDIA Source Code License, non-commercial).",
}


# The metrics a run's JSON may hold: key -> (task, metric type, metric name).
RUN_METRICS = {
    "nme": ("keypoint-detection", "nme", "NME (inter-ocular)"),
    "nme_inner51": ("keypoint-detection", "nme", "NME, 51 inner points (inter-ocular)"),
    "auc_0.08": ("keypoint-detection", "auc", "AUC@0.08"),
    "mean_f1": ("image-segmentation", "f1", "mean F1"),
}


def eval_results_from_runs(paths: list[str | Path]) -> list[EvalResult]:
    """`EvalResult`s from the JSON files written by `synthforge evaluate --out` (or benchmarks/)."""
    results = []
    for path in paths:
        run = json.loads(Path(path).read_text())
        benchmark = run["benchmark"]
        for key, (task, metric_type, metric_name) in RUN_METRICS.items():
            if key in run:
                results.append(
                    EvalResult(
                        task_type=task,
                        metric_type=metric_type,
                        metric_name=metric_name,
                        metric_value=round(run[key], 5),
                        dataset_type=benchmark,
                        dataset_name=BENCHMARK_NAMES[benchmark],
                        dataset_split=run["split"],
                    )
                )
    return results


def _dataset_link(dataset_repo: str | None) -> str:
    return f" ([{dataset_repo}](https://huggingface.co/datasets/{dataset_repo}))" if dataset_repo else ""


def _evaluation_text(results: list[EvalResult]) -> str:
    if not results:
        return "Not evaluated yet: run `synthforge evaluate --out eval.json` and render the card again."
    rows = [f"| {r.dataset_name} | {r.dataset_split} | {r.metric_name} | {r.metric_value} |" for r in results]
    return "| benchmark | split | metric | value |\n| --- | --- | --- | --- |\n" + "\n".join(rows)


def render_model_card(
    model_dir: str | Path,
    repo_id: str,
    dataset_repo: str | None = None,
    eval_runs: list[str | Path] = (),
    license: str = "apache-2.0",
    training_data: str | None = None,
) -> ModelCard:
    """The card of the SB or LF model saved in ``model_dir``; ``training_data`` describes the SB's data
    (a key of `TRAINING_DATA` or free text)."""
    config = AutoConfig.from_pretrained(model_dir)
    results = eval_results_from_runs(list(eval_runs))
    is_lf = config.model_type == "synthforge-lf"
    model_name = repo_id.split("/")[-1]
    data = ModelCardData(
        model_name=model_name,
        license=license,
        library_name="transformers",
        pipeline_tag="image-segmentation"
        if not is_lf or config.task == "segmentation"
        else "keypoint-detection",
        tags=["face-analysis", "face-parsing", "facial-landmarks", "synthetic-data", "synthforge"],
        datasets=[dataset_repo] if dataset_repo else None,
        eval_results=results or None,
    )
    if is_lf:
        description = (
            f"SynthForge label fine-tuning network ({config.task}, {config.num_outputs} outputs) on top of "
            f"the frozen synthetic backbone `{config.backbone}`, which it loads by reference."
        )
        training = (
            f"The backbone was trained on synthetic faces{_dataset_link(dataset_repo)}; this head was "
            "trained on the benchmark's training split."
        )
        module, auto_class = "synthforge_lf", "AutoModel"
        usage = (
            "outputs.landmarks  # (1, 68, 2) pixels; processor.post_process_landmarks maps them back"
            if config.task == "keypoints"
            else "outputs.logits  # processor.post_process_semantic_segmentation"
        )
    else:
        description = (
            "SynthForge synthetic backbone (SB): a UNet feature encoder with segmentation (20 classes), "
            "depth and stacked-hourglass keypoint heads, trained only on synthetic faces with exact labels."
        )
        training = f"Synthetic faces{_dataset_link(dataset_repo)}, made with synthforge-hf."
        if training_data:
            training = TRAINING_DATA.get(training_data, training_data)
        module, auto_class = "synthforge", "AutoModelForSemanticSegmentation"
        usage = (
            "outputs.landmarks, outputs.logits, outputs.depth\n"
            "sizes, pads = inputs['original_sizes'], inputs['paddings']\n"
            "points = processor.post_process_landmarks(outputs, sizes, pads)[0]  # in the photo's pixels"
        )
    template = resources.files("synthforge_hf.hub").joinpath("templates/model_card.md").read_text()
    return ModelCard.from_template(
        data,
        template_str=template,
        model_name=model_name,
        description=description,
        module=module,
        auto_class=auto_class,
        repo_id=repo_id,
        usage_outputs=usage,
        training_data=training,
        evaluation=_evaluation_text(results),
        license_text=LICENSE_TEXT.get(license, license),
    )
