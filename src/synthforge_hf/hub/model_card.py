"""Model cards of the SB and LF models, with `model-index` results read from evaluation runs."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers import AutoConfig

from ..constants import TRAINING_ARGUMENTS_FILE
from ..data.generate import CONFIG_FILE
from ..models import synthforge as _sb  # noqa: F401  (registers the SB's Auto classes)
from ..models import synthforge_lf as _lf  # noqa: F401  (registers the LF's)
from .dataset_card import HEAD_LICENSES, samples_license

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
APACHE_TEXT = "Apache-2.0. The training data were rendered from the embedded head of synthforge-hf."
RESTRICTED_TEXT = (
    "`{name}`: the terms of the training data carry over to the weights. Renders of FLAME carry the FLAME "
    "licence (non-commercial research), Next3D images NVIDIA's Source Code License (non-commercial), and a "
    "label fine-tuning head the terms of the benchmark it was trained on (300W, LaPa, CelebAMask-HQ: "
    "research use)."
)
UNKNOWN_DATA = "unknown-training-data"
BENCHMARK_LABELS = "benchmark-labels"
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


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


def training_license(model_dir: Path, is_lf: bool, training_data: str | None) -> tuple[str, str | None]:
    """(licence id, licence name) the weights inherit from their training data: an LF head its
    benchmark's terms; an SB the terms of the samples it was trained on, read from the dataset that
    its ``training_args.json`` names (``training_data="default-head"`` says so without the files).
    Unknown data give ``other``: no permissive licence is claimed for weights of unknown origin."""
    if is_lf:
        return "other", BENCHMARK_LABELS
    if training_data == "default-head":
        return HEAD_LICENSES["default"]
    try:
        data = json.loads((model_dir / TRAINING_ARGUMENTS_FILE).read_text())["data"]
        return samples_license(json.loads((Path(data) / CONFIG_FILE).read_text())["pipeline"])
    except (OSError, KeyError, TypeError, ValueError):
        return "other", UNKNOWN_DATA


def render_model_card(
    model_dir: str | Path,
    repo_id: str,
    dataset_repo: str | None = None,
    eval_runs: list[str | Path] = (),
    training_data: str | None = None,
) -> ModelCard:
    """The card of the SB or LF model saved in ``model_dir``; ``training_data`` describes the SB's data
    (a key of `TRAINING_DATA` or free text). The licence follows the training data
    (`training_license`); an LF card names its SB as ``base_model`` when that is a Hub repo."""
    model_dir = Path(model_dir)
    config = AutoConfig.from_pretrained(model_dir)
    results = eval_results_from_runs(list(eval_runs))
    is_lf = config.model_type == "synthforge-lf"
    model_name = repo_id.split("/")[-1]
    license_id, license_name = training_license(model_dir, is_lf, training_data)
    backbone = getattr(config, "backbone", None) if is_lf else None
    data = ModelCardData(
        model_name=model_name,
        license=license_id,
        license_name=license_name,
        base_model=backbone if backbone and HUB_ID.match(backbone) and not Path(backbone).exists() else None,
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
        license_text=APACHE_TEXT if license_id == "apache-2.0" else RESTRICTED_TEXT.format(name=license_name),
    )
