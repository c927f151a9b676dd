"""The figures the README, docs/benchmarks.md and CONTRIBUTING.md quote, rendered from the JSON files the
benchmarks wrote under benchmarks/results/ (their one home).

    python benchmarks/tables.py          # rewrite the generated blocks of those pages
    python benchmarks/tables.py --check  # exit 1 if a page disagrees with the results

A generated block sits between ``<!-- NAME: ... -->`` and ``<!-- end NAME -->``; tests/test_documentation.py
checks every block against its rendering.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAGES = (ROOT / "README.md", ROOT / "docs" / "benchmarks.md", ROOT / "CONTRIBUTING.md")


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _measured(record: dict) -> str:
    """Where and when a record was measured, for the line under its table."""
    machine = record["machine"]
    where = f"{machine['cores']} cores of {machine['cpu']}" + (
        f", {machine['gpu']}" if machine["gpu"] else ""
    )
    return f"Measured {record['date']} on {where} by `{record['command']}`."


def _table(pattern: str, command: str, header: list[str], rows: Callable[[dict], list[list]]) -> str:
    """The markdown table of the results files matching ``pattern`` (``rows`` gives each one's cells; runs
    made with generator or sampling options after the one without), with where and when each was
    measured; a line saying which command makes them while there is none."""
    records = [json.loads(path.read_text()) for path in sorted(RESULTS.glob(pattern))]
    if not records:
        return f"No results yet: run `{command}`."
    records.sort(key=lambda record: bool(record.get("generator_options") or record.get("sampling_options")))
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += [
        "| " + " | ".join(str(cell) for cell in row) + " |" for record in records for row in rows(record)
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(_measured(record) for record in records)


def _reference_rows(record: dict) -> list[list]:
    parts = [
        ("fresh generated validation faces", "generated"),
        ("the same, predicting the mean shape (for scale)", "generated_mean_shape"),
        ("real faces, cropped from their labelled points' box", "real_landmarks_box"),
        ("real faces, cropped from dlib's detector box", "real_detector_box"),
    ]
    rows = [
        [name, record[key]["samples"], _percent(record[key]["nme"]), _percent(record[key]["nme_inner51"])]
        for name, key in parts
    ]
    finetuning = record.get("label_finetuning")
    if finetuning:
        sb, lf = finetuning["sb"], finetuning["sb_plus_lf"]
        name = (
            f"real test faces: the SB / with an LF head trained on {finetuning['train_faces']} other faces "
            f"({finetuning['lf_steps']} steps)"
        )
        rows.append([name, sb["samples"], f"{_percent(sb['nme'])} / {_percent(lf['nme'])}", ""])
    return rows


def _realism_rows(record: dict) -> list[list]:
    cnn = record["cnn_found_fraction"]
    return [
        [
            f"all {record['num_samples']}",
            _percent(record["found_fraction"]),
            "" if cnn is None else _percent(cnn),
            _percent(record["nme_inner_median"]),
        ],
        [
            f"near-frontal ({record['frontal_count']})",
            _percent(record["frontal_found_fraction"]),
            "",
            _percent(record["frontal_nme_inner_median"]),
        ],
    ]


def _options_name(record: dict, default: str) -> str:
    """The generator and sampling options a run was made with, or ``default`` when it used none."""
    options = {**record.get("generator_options", {}), **record.get("sampling_options", {})}
    return ", ".join(f"{key}={value}" for key, value in options.items()) or default


def _generation_rows(record: dict) -> list[list]:
    return [
        [
            _options_name(record, "the default"),
            f"{r['resolution']} px",
            r["samples_per_second"],
            r["cpu_ms_per_sample"],
            f"{r['peak_rss_mib']} MiB",
        ]
        for r in record["results"]
    ]


def _realism_score_rows(record: dict) -> list[list]:
    unoccluded, level = record.get("frontal_unoccluded_count"), record.get("frontal_level_count")
    return [
        [
            _options_name(record, "the default"),
            f"{record['two_sample_accuracy']:.3f} +- {record['two_sample_accuracy_std']:.3f}",
            f"{record['two_sample_p_value']:.3f}",
            f"{record['mmd_squared']:.4f}",
            f"{_percent(record['frontal_hog_found_fraction'])} of {record['frontal_count']}",
            "not measured"
            if unoccluded is None
            else f"{_percent(record['frontal_unoccluded_hog_found_fraction'])} of {unoccluded}",
            "not measured"
            if level is None
            else f"{_percent(record['frontal_level_hog_found_fraction'])} of {level}",
        ]
    ]


def reference_model() -> str:
    return _table(
        "reference-model/summary.json",
        "bash spaces_app/make_model.sh",
        ["faces", "count", "NME, 68 points", "NME, 51 inner points"],
        _reference_rows,
    )


BLOCKS: dict[str, Callable[[], str]] = {
    "results-table": reference_model,
    "reference-model": reference_model,
    "generation": lambda: _table(
        "generation*.json",
        "python benchmarks/generation.py",
        ["appearance", "resolution", "samples/s", "CPU ms a sample", "peak RSS"],
        _generation_rows,
    ),
    "analysis-memory": lambda: _table(
        "analysis-memory.json",
        "python benchmarks/analysis_memory.py",
        ["photo", "faces (found)", "peak RSS", "seconds"],
        lambda record: [
            [
                f"{r['megapixels']:g} MP ({r['size'][0]}x{r['size'][1]})",
                f"{r['faces']} ({r['faces_found']})",
                f"{r['peak_rss_mib']} MiB",
                r["seconds"],
            ]
            for r in record["runs"]
        ],
    ),
    "realism": lambda: _table(
        "realism.json",
        "python benchmarks/realism.py",
        [
            "faces",
            "found by dlib's HOG detector",
            "by its CNN detector",
            "dlib's points, median inner-51 NME",
        ],
        _realism_rows,
    ),
    "realism-score": lambda: _table(
        "realism-score*.json",
        "python benchmarks/realism_score.py",
        [
            "generator",
            "two-sample accuracy (0.5: like photos)",
            "p",
            "MMD²",
            "HOG finds, near-frontal",
            "HOG finds, near-frontal with every point visible",
            "HOG finds, near-frontal and level (pitch too under 0.3 rad)",
        ],
        _realism_score_rows,
    ),
    "appearance-ablation": lambda: _table(
        "appearance-ablation.json",
        "python benchmarks/appearance_ablation.py",
        ["variant", "options", "seeds", "real faces, NME51 (spread over seeds)", "generated faces, NME"],
        lambda record: [
            [
                name,
                ", ".join(
                    f"{key}={value}"
                    for key, value in {**v["generator_options"], **v["sampling_options"]}.items()
                )
                or "today's appearance",
                len(v["seeds"]),
                _percent(v["real_nme_inner51_mean"])
                + (f" ({_percent(v['real_nme_inner51_spread'])})" if len(v["seeds"]) > 1 else " (one seed)"),
                _percent(v["generated_nme_mean"]),
            ]
            for name, v in record["variants"].items()
        ],
    ),
    "guided-sampling": lambda: _table(
        "guided-sampling.json",
        "python benchmarks/guided_sampling.py",
        [
            "sampling",
            "seeds",
            "(a) uniform faces, NME (spread)",
            "(b) hard faces, NME (spread)",
            "(c) real faces, NME51 (spread)",
            "training time",
        ],
        lambda record: [
            [name, len(v["seeds"])]
            + [
                _percent(v[f"{key}_mean"])
                + (f" ({_percent(v[f'{key}_spread'])})" if len(v["seeds"]) > 1 else " (one seed)")
                for key in ("uniform_nme", "hard_nme", "real_nme_inner51")
            ]
            + [f"{v['train_seconds_mean'] / 60:.0f} min"]
            for name, v in record["samplers"].items()
        ],
    ),
    "hard-cases": lambda: _table(
        "hard-cases.json",
        "python benchmarks/hard_cases.py",
        [
            "model",
            "faces",
            "uniform dataset, NME",
            "guided dataset, NME",
            "its guided rows (not the floor), NME",
        ],
        lambda record: [
            [
                record["model"],
                f"{record['faces']} at {record['resolution']} px",
                _percent(record["uniform_dataset_nme"]),
                _percent(record["guided_dataset_nme"]),
                _percent(record["guided_rows_nme"]),
            ]
        ],
    ),
    "training": lambda: _table(
        "training.json",
        "python benchmarks/training.py",
        ["config", "parameters", "GFLOP a 256 px image", "train samples/s", "inference ms a 256 px image"],
        lambda record: [
            [
                r["config"] + (" (equal work)" if r.get("loss") == "outputs" else ""),
                f"{r['parameters_millions']} M",
                r["forward_gflops_256px"],
                f"{r['train_samples_per_second']} ({r['train_image_size']} px)",
                r["inference_ms_256px"],
            ]
            for r in record["results"]
        ],
    ),
    "face-detection": lambda: _table(
        "face_detection.json",
        "python benchmarks/face_detection.py",
        [
            "detector",
            "real faces found",
            "false",
            "s a photo",
            "turned faces found at 0 / 45 / 60 / 75 degrees",
        ],
        lambda record: [
            [
                r["candidate"],
                f"{r['found']}/{r['faces']}",
                r["false"],
                round(r["wall_s_per_photo"], 2),
                " / ".join(
                    _percent(b["found"]) for b in r["generated_by_yaw"] if b["yaw_degrees"] in (0, 45, 60, 75)
                ),
            ]
            for r in record["results"]
        ],
    ),
    "onnx-runtime": lambda: _table(
        "onnx-runtime.json",
        "python benchmarks/onnx_runtime.py",
        ["batch", "image size", "PyTorch ms", "onnxruntime ms", "landmarks differ by at most"],
        lambda record: [
            [
                r["batch"],
                f"{r['image_size']} px",
                r["pytorch_ms"],
                r["onnxruntime_ms"],
                f"{r['landmarks_max_difference_px']:.1e} px",
            ]
            for r in record["results"]
        ],
    ),
    "test-tiers": lambda: _table(
        "test-tiers.json",
        "python benchmarks/test_tiers.py",
        ["tier", "tests", "minutes"],
        lambda record: [[t["tier"], t["passed"], t["minutes"]] for t in record["tiers"]],
    ),
}
BLOCK = re.compile(r"(<!-- (?P<name>[\w-]+): [^\n]*-->\n)(?P<body>.*?)(<!-- end (?P=name) -->)", re.DOTALL)


def render(text: str) -> str:
    """``text`` with each generated block's body replaced by its rendering."""
    return BLOCK.sub(lambda m: f"{m.group(1)}{BLOCKS[m.group('name')]()}\n{m.group(4)}", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that the pages agree")
    args = parser.parse_args()
    stale = []
    for page in PAGES:
        text = page.read_text()
        if render(text) != text:
            stale.append(page)
            if not args.check:
                page.write_text(render(text))
    for page in stale:
        verb = "disagrees with" if args.check else "rewritten from"
        print(f"{page.relative_to(ROOT)}: {verb} benchmarks/results")
    sys.exit(1 if args.check and stale else 0)


if __name__ == "__main__":
    main()
