"""The dataset generation job: a pipeline -> parquet shards in the Hub layout, resumable and parallel.

Layout of ``output_dir``::

    generation.json                      what defines the dataset, pipeline fingerprint included
                                         (checked again on every resume)
    data/train-00000-of-00004.parquet    shards; each is complete or absent
    data/validation-00000-of-00001.parquet
    .shards/<shard>.json                 sha256 and size of each published shard (`shard_file`)
    .make-dataset.lock                   who is writing which shards (`folder_lock`)
    README.md, assets/samples.png        the dataset card (`synthforge_hf.hub.dataset_card`)

A shard is written to a hidden temporary file, flushed to disk and renamed into place, so a job
killed at any moment leaves only whole shards; a restarted job checks each one against its digest,
keeps the whole ones and remakes the rest. Files in ``data/`` outside the shard plan are refused.
Shards are split across processes with Accelerate (`accelerate launch ...`), and across machines
by giving each a range of the global shard list (``shard_range``).
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from accelerate import PartialState
from tqdm.auto import tqdm

from ..errors import FolderError
from ..generators.mesh import APPEARANCE_PARTS
from ..io.safe_write import atomic_write_bytes, refuse_symlink
from .features import dataset_features, encode_rows
from .folder_lock import lock_shards, spec_lock
from .folders import check_output_folder, refuse_unplanned_files
from .pipeline_hash import pipeline_fingerprint
from .sampling import ControlSpace, GuidedSampler, UniformSampler
from .shard_file import read_shard_record, write_shard
from .shards import Shard, plan_shards

logger = logging.getLogger(__name__)

CONFIG_FILE = "generation.json"


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
    pipeline_sha256: dict[str, str] | None = None  # `pipeline_fingerprint`: configs and weights
    columns: list[str] | None = None  # the shards' columns: a resume with other columns is refused
    guidance: dict[str, Any] | None = None  # `GuidedSampler.parents_record` and the model that set it

    @property
    def quality_outputs(self) -> tuple[str, ...]:
        """The image backend's per-sample quality scalars, kept as columns."""
        return tuple(self.pipeline.get("quality_outputs", ()))

    @property
    def part_map(self) -> bool:
        """Whether the rows hold the image backend's ``parts`` map."""
        return bool(self.pipeline.get("part_map", False))


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
    if pipe.face_generator.part_map:  # left out when false, as before the part map existed
        description["part_map"] = True
    parts = [part for part in APPEARANCE_PARTS if pipe.face_generator.config.get(part)]
    if parts:  # the mesh renderer's optional parts; left out when none is on, as before they existed
        description["appearance"] = parts
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
    guidance: dict[str, Any] | None = None,
) -> GenerationSummary:
    """Generate (or finish generating) a dataset in ``output_dir``.

    Writes parquet shards in the Hub layout with typed `datasets.Features` (see the module docstring
    for the folder's layout), each shard complete or absent: a job killed at any moment resumes, keeps
    the whole shards and makes the rest. A resume with other settings or another pipeline is refused, as
    is a folder holding other files in ``data/``. Run under ``accelerate launch`` it splits the shards
    across processes. What ``synthforge make-dataset`` runs; `write_dataset_card` then writes the card.

    Args:
        pipe (`SynthForgePipeline`):
            The pipeline that makes the samples (on the device it is on).
        output_dir (`str` or `Path`):
            The dataset folder.
        split_sizes (`dict[str, int]`):
            Samples per split, e.g. ``{"train": 100_000, "validation": 10_000}``.
        shard_size (`int`, *optional*, defaults to 1000):
            Samples per parquet shard (the unit of resumption and of parallel work).
        base_seed (`int`, *optional*, defaults to 0):
            Sample ``i`` of a split uses the seed ``sample_seed(base_seed, split, i)``.
        resolution (`int`, *optional*, defaults to 256):
            Image size in pixels (square).
        batch_size (`int`, *optional*, defaults to 16):
            Samples the pipeline renders together.
        min_visible_landmarks (`int`, *optional*, defaults to 0):
            Reject samples with fewer visible landmarks (0 keeps all).
        max_landmark_depth_error (`float`, *optional*):
            Reject samples whose image backend reports a larger ``landmark_depth_error`` (metres;
            Next3D: its rendered surface against the visible landmarks); refused for a backend that
            reports none.
        shard_range (`range`, *optional*):
            The part of the global shard list this machine makes (default: all).
        progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar.
        guidance (`dict`, *optional*):
            Concentrate the samples where a model errs: a `GuidedSampler.parents_record` (with any
            description of where it came from, e.g. `synthforge_hf.evaluation.error_map.guidance_from`),
            kept in generation.json. Row ``i`` of a split is then proposal ``i`` of that split's guided
            sampler (`GuidedSampler.propose_rows`); its ``seed`` and parameter columns regenerate it.

    Returns:
        `GenerationSummary`: the samples written and rejected, the shards made and those already
        complete, and the time taken.

    Example:

    ```python
    >>> from synthforge_hf import SynthForgePipeline
    >>> from synthforge_hf.data.generate import generate_dataset, is_complete
    >>> pipe = SynthForgePipeline.from_default_head()
    >>> sizes = {"train": 4, "validation": 2}
    >>> summary = generate_dataset(pipe, "faces", sizes, resolution=32, progress=False)
    >>> summary.written, summary.shards_made
    (6, ['train-00000-of-00001.parquet', 'validation-00000-of-00001.parquet'])
    >>> is_complete("faces")
    True
    >>> again = generate_dataset(pipe, "faces", sizes, resolution=32, progress=False)
    >>> again.written, len(again.shards_skipped)  # resumed: nothing left to make
    (0, 2)

    ```
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
        guidance=guidance,
    )
    spec = replace(spec, columns=list(_features(spec)), pipeline_sha256=_fingerprint(output_dir, pipe))
    if max_landmark_depth_error is not None and "landmark_depth_error" not in spec.quality_outputs:
        raise ValueError(
            f"{spec.pipeline['generator']} reports no landmark_depth_error; max_landmark_depth_error needs "
            "an image backend that does (Next3D)"
        )
    shards = plan_shards(spec.split_sizes, shard_size)
    chosen = shard_range if shard_range is not None else range(len(shards))
    selected = [shards[i] for i in chosen]
    state = PartialState(cpu=pipe.device.type == "cpu")  # gloo across CPU processes, NCCL across GPUs
    if state.is_main_process:
        check_output_folder(output_dir, "make-dataset", [shard.filename for shard in shards])
    with ExitStack() as held:
        if state.is_main_process:  # locks this job's shards, writes the spec or checks the one it resumes
            with spec_lock(held.enter_context(lock_shards(output_dir, chosen))):
                _check_or_write_spec(output_dir, spec)
            refuse_unplanned_files(output_dir, [shard.filename for shard in shards])
        state.wait_for_everyone()
        if not state.is_main_process:  # every other process checks the spec it resumes
            _check_or_write_spec(output_dir, spec)
        summary = _make_missing_shards(pipe, selected, spec, output_dir, batch_size, progress, state)
        state.wait_for_everyone()  # the main process holds the lock until every process is done
    return summary


def _make_missing_shards(
    pipe, selected: list[Shard], spec: DatasetSpec, output_dir: Path, batch_size: int, progress: bool, state
) -> GenerationSummary:
    """Skip the shards of ``selected`` that are whole; share the others among the processes and make them."""
    summary = GenerationSummary()
    pending = []
    for shard in selected:
        if shard_is_complete(output_dir / "data" / shard.filename, shard, spec):
            summary.shards_skipped.append(shard.filename)
        else:
            pending.append(shard)
    features = _features(spec)
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


def _fingerprint(output_dir: Path, pipe) -> dict[str, str]:
    """``pipe``'s fingerprint; for a dataset recorded by a version that hashed whole configurations
    (defaults included), the recorded one when ``pipe`` matches it that way, so the dataset resumes."""
    fingerprint = pipeline_fingerprint(pipe)
    path = output_dir / CONFIG_FILE
    if path.is_file() and not path.is_symlink():
        try:
            recorded = json.loads(path.read_text()).get("pipeline_sha256")
        except (OSError, UnicodeDecodeError, ValueError, AttributeError):
            return fingerprint  # `_check_or_write_spec` names the unreadable record
        if recorded not in (None, fingerprint) and recorded == pipeline_fingerprint(pipe, keep_defaults=True):
            return recorded
    return fingerprint


def _features(spec: DatasetSpec):
    """The `datasets.Features` of the shards of ``spec``."""
    description = spec.pipeline
    return dataset_features(
        description["num_shape"],
        description["num_expression"],
        description["latent_dim"],
        spec.quality_outputs,
        spec.part_map,
    )


def _spec_json(spec: DatasetSpec) -> str:
    """The spec as recorded; unset options are left out, so specs recorded before they existed match."""
    return json.dumps({k: v for k, v in asdict(spec).items() if v is not None}, indent=2, sort_keys=True)


def _differences(recorded: dict, current: dict, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two spec records."""
    names = []
    for key in sorted(set(recorded) | set(current)):
        old, new = recorded.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            names += _differences(old, new, f"{prefix}{key}.")
        elif key not in recorded:
            names.append(f"{prefix}{key} (not in the record)")
        elif old != new:
            names.append(f"{prefix}{key}")
    return names


def _check_or_write_spec(output_dir: Path, spec: DatasetSpec) -> None:
    path = refuse_symlink(output_dir / CONFIG_FILE)
    current = json.loads(_spec_json(spec))
    if path.exists():
        try:
            recorded = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise FolderError(f"{path} is unreadable ({err}); use another --out") from None
        differing = _differences(recorded, current) if isinstance(recorded, dict) else ["the whole record"]
        if differing:
            raise FolderError(
                f"{output_dir} holds a dataset made with different settings ({', '.join(differing)} differ "
                f"from {path}); resume it with the same pipeline and options, or use another --out"
            )
        return
    atomic_write_bytes(path, _spec_json(spec).encode())


def shard_is_complete(path: Path, shard: Shard, spec: DatasetSpec) -> bool:
    """True if ``path`` is this shard, whole (its bytes match its digest), made with this spec."""
    return _shard_record(path, shard, spec) is not None


def _shard_record(path: Path, shard: Shard, spec: DatasetSpec) -> dict | None:
    record = read_shard_record(path)
    if record is None:
        return None
    expected = {
        "split": shard.split,
        "start": shard.start,
        "stop": shard.stop,
        "spec": json.loads(_spec_json(spec)),
    }
    if any(record.get(k) != v for k, v in expected.items()):
        logger.warning("%s was made for other samples or settings: it will be made again", path)
        return None
    if record["num_rows"] + len(record.get("rejected", [])) != shard.stop - shard.start:
        return None
    return record


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
    space = ControlSpace(pipe)
    sampler = UniformSampler(space, spec.base_seed, shard.split)
    if spec.guidance is not None:
        sampler = GuidedSampler.from_parents_record(space, spec.guidance, spec.base_seed, shard.split)
    for begin in range(0, len(indices), batch_size):
        batch = indices[begin : begin + batch_size]
        out = space.render(pipe, sampler.propose_rows(batch), spec.resolution, output_type="np")
        finite = np.isfinite(np.asarray(out.images)).reshape(len(batch), -1).all(axis=1)
        for index in np.asarray(batch)[~finite]:
            logger.warning("%s sample %d: its image has non-finite pixels; rejected", shard.split, index)
        keep = finite & (out.landmark_visibility.sum(axis=1) >= spec.min_visible_landmarks)
        if spec.max_landmark_depth_error is not None:  # NaN (no visible landmark) is rejected too
            keep &= out.generator_outputs["landmark_depth_error"] <= spec.max_landmark_depth_error
        rejected += [i for i, k in zip(batch, keep, strict=True) if not k]
        if pending is not None:
            rows += pending.result()
        pending = encoder.submit(encode_rows, out, batch, keep, spec.quality_outputs, spec.part_map)
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


def _recorded_spec(output_dir: Path) -> DatasetSpec:
    path = refuse_symlink(output_dir / CONFIG_FILE)
    try:
        return DatasetSpec(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise FolderError(f"{path} not found: {output_dir} is not a dataset made by make-dataset") from None
    except (OSError, TypeError, ValueError) as err:
        raise FolderError(f"{path} is not a make-dataset spec ({err})") from None


def completed_shards(output_dir: str | Path) -> dict[str, dict]:
    """The SynthForge record (split, start, stop, rejected, num_rows) of every shard of the plan that is
    whole, by file name. Damaged shards and files outside the plan are not counted."""
    output_dir = Path(output_dir)
    spec = _recorded_spec(output_dir)
    records = {}
    for shard in plan_shards(spec.split_sizes, spec.shard_size):
        record = _shard_record(output_dir / "data" / shard.filename, shard, spec)
        if record is not None:
            records[shard.filename] = record
    return records


def verified_shards(output_dir: str | Path) -> dict[str, dict]:
    """`completed_shards`, or `FolderError` if ``data/`` holds anything a loader would read that is not
    a whole shard of the plan (a stray file, a damaged shard): what a card or an upload may rely on."""
    output_dir = Path(output_dir)
    spec = _recorded_spec(output_dir)
    refuse_unplanned_files(output_dir, [s.filename for s in plan_shards(spec.split_sizes, spec.shard_size)])
    records = completed_shards(output_dir)
    for path in sorted((output_dir / "data").glob("*.parquet")):
        if path.name not in records and not path.name.startswith("."):
            raise FolderError(
                f"{path} is damaged or unfinished (see the warning above); run make-dataset on "
                f"{output_dir} again to remake it"
            )
    return records


def count_splits(records: dict[str, dict]) -> dict[str, dict[str, int]]:
    """Rows and rejected samples per split of shard records."""
    counts: dict[str, dict[str, int]] = {}
    for record in records.values():
        split = counts.setdefault(record["split"], {"num_rows": 0, "rejected": 0})
        split["num_rows"] += record["num_rows"]
        split["rejected"] += len(record["rejected"])
    return counts


def split_counts(output_dir: str | Path) -> dict[str, dict[str, int]]:
    """Rows and rejected samples per split over the complete shards."""
    return count_splits(completed_shards(output_dir))


def is_complete(output_dir: str | Path) -> bool:
    """True when every planned shard of the dataset is present and whole."""
    spec = _recorded_spec(Path(output_dir))
    return len(completed_shards(output_dir)) == len(plan_shards(spec.split_sizes, spec.shard_size))
