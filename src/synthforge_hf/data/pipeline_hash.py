"""Fingerprints of a pipeline: sha256 of each component's configuration and of its weights.

A dataset records these so that a resumed job can prove it runs the pipeline that made the shards
already written, not only one with the same description (another checkpoint of the same backend, say).
A configuration is hashed without the options at their defaults, so an option a later version adds (at
its default, which changes no sample) leaves the fingerprint as it was and the dataset resumable.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import asdict
from typing import Any

import torch

from ..pipelines.synthforge.sampling import SamplingRanges


def _public(config: dict[str, Any]) -> dict[str, Any]:
    """A config without the bookkeeping keys (``_diffusers_version``, ``_name_or_path``, ...)."""
    return {key: value for key, value in config.items() if not key.startswith("_")}


def config_sha256(config: dict[str, Any]) -> str:
    """sha256 of a JSON-able configuration, independent of key order."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def state_dict_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over the tensors in name order: each one's name, dtype and shape, then its bytes."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach()
        digest.update(json.dumps([name, str(tensor.dtype), list(tensor.shape)]).encode())
        digest.update(tensor.cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def without_defaults(config: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``config`` without the entries equal (as JSON) to their ``defaults``."""

    def as_json(value: Any) -> str:
        return json.dumps(value, sort_keys=True, default=str)

    return {k: v for k, v in config.items() if k not in defaults or as_json(v) != as_json(defaults[k])}


def init_defaults(kind: type) -> dict[str, Any]:
    """The defaults of a class's constructor arguments."""
    parameters = inspect.signature(kind.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def _component_config(component, keep_defaults: bool) -> dict[str, Any]:
    """A component's class and public config (diffusers' ``ConfigMixin``; none for other objects), without
    the options at their constructor defaults unless ``keep_defaults``."""
    kind = type(component)
    config = _public(json.loads(component.to_json_string())) if hasattr(component, "to_json_string") else {}
    if not keep_defaults:
        config = without_defaults(config, init_defaults(kind))
    return {"class": f"{kind.__module__}.{kind.__qualname__}", **config}


def pipeline_fingerprint(pipe, keep_defaults: bool = False) -> dict[str, str]:
    """``{"pipeline.config": ..., "<component>.config": ..., "<component>.weights": ...}``, hex sha256.

    ``keep_defaults`` hashes the whole configurations, as versions before defaults were left out did (a
    dataset they made resumes when that fingerprint matches)."""
    components = pipe.components
    own = {k: v for k, v in _public(dict(pipe.config)).items() if k not in components}
    if not keep_defaults and "sampling_ranges" in own:
        ranges = asdict(SamplingRanges())
        own["sampling_ranges"] = without_defaults(
            own["sampling_ranges"], {**ranges, "fov": list(ranges["fov"])}
        )
    fingerprint = {"pipeline.config": config_sha256(own)}
    for name in sorted(components):
        component = components[name]
        if component is None:
            continue
        fingerprint[f"{name}.config"] = config_sha256(_component_config(component, keep_defaults))
        if isinstance(component, torch.nn.Module):
            fingerprint[f"{name}.weights"] = state_dict_sha256(component.state_dict())
    return fingerprint
