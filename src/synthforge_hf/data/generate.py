"""The dataset generation job: a pipeline -> parquet shards in the Hub layout, resumable and parallel.

Layout of ``output_dir``::

    generation.json                      what defines the dataset (checked again on every resume)
    data/train-00000-of-00004.parquet    shards; each is complete or absent
    data/validation-00000-of-00001.parquet
    README.md, assets/samples.png        the dataset card (`synthforge_hf.hub.dataset_card`)

A shard is written to a hidden temporary file, flushed to disk and renamed into place, so a job
killed at any moment leaves only whole shards; a restarted job skips them and remakes the rest.
Shards are split across processes with Accelerate (`accelerate launch ...`), and across machines
by giving each a range of the global shard list (``shard_range``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from accelerate import PartialState
from datasets import Dataset
from tqdm.auto import tqdm

from .features import dataset_features, encode_rows
from .shards import Shard, plan_shards, sample_seed

logger = logging.getLogger(__name__)

CONFIG_FILE = "generation.json"
SHARD_METADATA_KEY = b"synthforge"
ROW_GROUP_SIZE = 100  # rows per parquet row group: what a streaming reader fetches at a time


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that determines the samples; a resumed job must have the same spec."""

    split_sizes: dict[str, int]
    shard_size: int
    base_seed: int
    resolution: int
    min_visible_landmarks: int
    pipeline: dict[str, Any]
    max_landmark_depth_error: float | None = None

    @property
    def quality_outputs(self) -> tuple[str, ...]:
        """The image backend's per-sample quality scalars, kept as columns."""
        return tuple(self.pipeline.get("quality_outputs", ()))


@dataclass
class GenerationSummary:
    written: int = 0
    rejected: int = 0
    shards_made: list[str] = field(default_factory=list)
    shards_skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def samples_per_second(self) -> float:
        return (self.written + self.rejected) / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        return (
            f"{self.written} samples written, {self.rejected} rejected, {len(self.shards_made)} shards made, "
            f"{len(self.shards_skipped)} already complete, {self.seconds:.1f} s "
            f"({self.samples_per_second:.1f} samples/s)"
        )


def describe_pipeline(pipe) -> dict[str, Any]:
    """The parts of a pipeline's configuration that the samples depend on."""
    head = pipe.head_model
    description = {
        "head": head.config.name,
        "num_shape": head.num_shape,
        "num_expression": head.num_expression,
        "generator": type(pipe.face_generator).__name__,
        "latent_dim": int(pipe.face_generator.latent_dim),
        "sampling_ranges": dict(pipe.config.sampling_ranges),
    }
    if pipe.face_generator.quality_outputs:
        description["quality_outputs"] = list(pipe.face_generator.quality_outputs)
    return description


def generate_dataset(
    pipe,
    output_dir: str | Path,
    split_sizes: dict[str, int],
    shard_size: int = 1000,
    base_seed: int = 0,
    resolution: int = 256,
    batch_size: int = 16,
    min_visible_landmarks: int = 0,
    max_landmark_depth_error: float | None = None,
    shard_range: range | None = None,
    progress: bool = True,
) -> GenerationSummary:
    """Generate (or finish generating) a dataset in ``output_dir``.

    Args:
        pipe: a `SynthForgePipeline`.
        split_sizes: samples per split, e.g. ``{"train": 100_000, "validation": 10_000}``.
        shard_size: samples per parquet shard (the unit of resumption and of parallel work).
        base_seed: sample ``i`` of a split uses the seed ``sample_seed(base_seed, split, i)``.
        min_visible_landmarks: reject samples with fewer visible landmarks (0 keeps all).
        max_landmark_depth_error: reject samples whose image backend reports a larger
            ``landmark_depth_error`` (metres; Next3D: its rendered surface against the visible landmarks).
        shard_range: the part of the global shard list this machine makes (default: all).
    """
    output_dir = Path(output_dir)
    spec = DatasetSpec(
        split_sizes=dict(split_sizes),
        shard_size=shard_size,
        base_seed=base_seed,
        resolution=resolution,
        min_visible_landmarks=min_visible_landmarks,
        pipeline=describe_pipeline(pipe),
        max_landmark_depth_error=max_landmark_depth_error,
    )
    if max_landmark_depth_error is not None and "landmark_depth_error" not in spec.quality_outputs:
        raise ValueError(
            f"{spec.pipeline['generator']} reports no landmark_depth_error; max_landmark_depth_error needs "
            "an image backend that does (Next3D)"
        )
    shards = plan_shards(spec.split_sizes, shard_size)
    selected = [shards[i] for i in (shard_range if shard_range is not None else range(len(shards)))]
    state = PartialState(cpu=pipe.device.type == "cpu")  # gloo across CPU processes, NCCL across GPUs
    if state.is_main_process:  # writes the spec, or checks it against the one it resumes
        _check_or_write_spec(output_dir, spec)
    state.wait_for_everyone()
    if not state.is_main_process:  # every other process checks the spec it resumes
        _check_or_write_spec(output_dir, spec)

    (output_dir / "data").mkdir(parents=True, exist_ok=True)
    summary = GenerationSummary()
    pending = []
    for shard in selected:
        if shard_is_complete(output_dir / "data" / shard.filename, shard, spec):
            summary.shards_skipped.append(shard.filename)
        else:
            pending.append(shard)
    features = dataset_features(
        spec.pipeline["num_shape"],
        spec.pipeline["num_expression"],
        spec.pipeline["latent_dim"],
        spec.quality_outputs,
    )
    pipe.set_progress_bar_config(disable=True)
    start = time.perf_counter()
    with state.split_between_processes(pending) as mine:
        total = sum(len(s.indices) for s in mine)
        bar = tqdm(
            total=total,
            unit="sample",
            disable=not progress,
            desc=f"generating (process {state.process_index})",
        )
        with ThreadPoolExecutor(max_workers=1) as encoder:
            for shard in mine:
                written, rejected = _make_shard(
                    pipe, shard, spec, features, output_dir, batch_size, encoder, bar
                )
                summary.written += written
                summary.rejected += rejected
                summary.shards_made.append(shard.filename)
        bar.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _spec_json(spec: DatasetSpec) -> str:
    """The spec as recorded; unset options are left out, so specs recorded before they existed match."""
    return json.dumps({k: v for k, v in asdict(spec).items() if v is not None}, indent=2, sort_keys=True)


def _check_or_write_spec(output_dir: Path, spec: DatasetSpec) -> None:
    path = output_dir / CONFIG_FILE
    if path.exists():
        recorded = json.loads(path.read_text())
        if recorded != json.loads(_spec_json(spec)):
            raise ValueError(
                f"{output_dir} holds a dataset made with different settings ({path}); resume it with the "
                "same pipeline and options, or use a new output directory"
            )
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write_bytes(path, _spec_json(spec).encode())


def shard_is_complete(path: Path, shard: Shard, spec: DatasetSpec) -> bool:
    """True if ``path`` is this shard, whole, made with this spec."""
    if not path.exists():
        return False
    try:
        metadata = pq.read_metadata(path)
        record = json.loads(metadata.metadata[SHARD_METADATA_KEY])
    except (OSError, KeyError, TypeError, ValueError, pa.ArrowException):
        logger.warning("%s is unreadable or not a SynthForge shard: it will be made again", path)
        return False
    expected = {
        "split": shard.split,
        "start": shard.start,
        "stop": shard.stop,
        "spec": json.loads(_spec_json(spec)),
    }
    if any(record.get(k) != v for k, v in expected.items()):
        logger.warning("%s was made for other samples or settings: it will be made again", path)
        return False
    return metadata.num_rows + len(record.get("rejected", [])) == shard.stop - shard.start


def _make_shard(
    pipe,
    shard: Shard,
    spec: DatasetSpec,
    features,
    output_dir: Path,
    batch_size: int,
    encoder: ThreadPoolExecutor,
    bar,
) -> tuple[int, int]:
    """Generate one shard and publish it atomically. Encoding of a batch overlaps the next batch."""
    rows: list[dict] = []
    rejected: list[int] = []
    pending: Future | None = None
    indices = list(shard.indices)
    for begin in range(0, len(indices), batch_size):
        batch = indices[begin : begin + batch_size]
        seeds = [sample_seed(spec.base_seed, shard.split, i) for i in batch]
        out = pipe(seeds=seeds, resolution=spec.resolution, batch_size=batch_size, output_type="np")
        keep = out.landmark_visibility.sum(axis=1) >= spec.min_visible_landmarks
        if spec.max_landmark_depth_error is not None:  # NaN (no visible landmark) is rejected too
            keep &= out.generator_outputs["landmark_depth_error"] <= spec.max_landmark_depth_error
        rejected += [i for i, k in zip(batch, keep, strict=True) if not k]
        if pending is not None:
            rows += pending.result()
        pending = encoder.submit(encode_rows, out, batch, keep, spec.quality_outputs)
        bar.update(len(batch))
    if pending is not None:
        rows += pending.result()
    record = {
        "split": shard.split,
        "start": shard.start,
        "stop": shard.stop,
        "rejected": rejected,
        "spec": json.loads(_spec_json(spec)),
    }
    write_shard(rows, features, output_dir / "data" / shard.filename, record)
    return len(rows), len(rejected)


def write_shard(rows: list[dict], features, path: Path, record: dict) -> None:
    """Encode ``rows`` and publish them as the parquet shard ``path`` in one atomic step, with the
    shard's ``record`` (split, index range, rejected indices, ...) in the file's metadata."""
    table = (
        Dataset.from_list(rows, features=features).data.table if rows else features.arrow_schema.empty_table()
    )
    metadata = {**(table.schema.metadata or {}), SHARD_METADATA_KEY: json.dumps(record).encode()}
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a killed run of this shard
        stale.unlink(missing_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table.replace_schema_metadata(metadata), temporary, row_group_size=ROW_GROUP_SIZE)
    _fsync_and_rename(temporary, path)


def _fsync_and_rename(temporary: Path, path: Path) -> None:
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    _fsync_and_rename(temporary, path)


def completed_shards(output_dir: str | Path) -> dict[str, dict]:
    """The SynthForge record (split, start, stop, rejected) of every complete shard in a dataset."""
    records = {}
    for path in sorted(Path(output_dir, "data").glob("*.parquet")):
        metadata = pq.read_metadata(path)
        record = json.loads(metadata.metadata[SHARD_METADATA_KEY])
        records[path.name] = {**record, "num_rows": metadata.num_rows}
    return records


def split_counts(output_dir: str | Path) -> dict[str, dict[str, int]]:
    """Rows and rejected samples per split over the complete shards."""
    counts: dict[str, dict[str, int]] = {}
    for record in completed_shards(output_dir).values():
        split = counts.setdefault(record["split"], {"num_rows": 0, "rejected": 0})
        split["num_rows"] += record["num_rows"]
        split["rejected"] += len(record["rejected"])
    return counts


def is_complete(output_dir: str | Path) -> bool:
    """True when every planned shard of the dataset is present and whole."""
    output_dir = Path(output_dir)
    spec_record = json.loads((output_dir / CONFIG_FILE).read_text())
    spec = DatasetSpec(**spec_record)
    return all(
        shard_is_complete(output_dir / "data" / shard.filename, shard, spec)
        for shard in plan_shards(spec.split_sizes, spec.shard_size)
    )
