"""Fingerprints of a pipeline: sha256 of each component's configuration and of its weights.

A dataset records these so that a resumed job can prove it runs the pipeline that made the shards
already written, not only one with the same description (another checkpoint of the same backend, say).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch


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


def _component_config(component) -> dict[str, Any]:
    """A component's class and public config (diffusers' ``ConfigMixin``; none for other objects)."""
    kind = type(component)
    config = json.loads(component.to_json_string()) if hasattr(component, "to_json_string") else {}
    return {"class": f"{kind.__module__}.{kind.__qualname__}", **_public(config)}


def pipeline_fingerprint(pipe) -> dict[str, str]:
    """``{"pipeline.config": ..., "<component>.config": ..., "<component>.weights": ...}``, hex sha256."""
    components = pipe.components
    own = {k: v for k, v in _public(dict(pipe.config)).items() if k not in components}
    fingerprint = {"pipeline.config": config_sha256(own)}
    for name in sorted(components):
        component = components[name]
        if component is None:
            continue
        fingerprint[f"{name}.config"] = config_sha256(_component_config(component))
        if isinstance(component, torch.nn.Module):
            fingerprint[f"{name}.weights"] = state_dict_sha256(component.state_dict())
    return fingerprint
