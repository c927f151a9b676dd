"""`from_pretrained` that refuses a damaged checkpoint instead of running on made-up weights.

transformers fills weights missing from a checkpoint with fresh random values and only logs it, loads NaN
or infinite values as they are, and casts integer tensors into floating-point weights; each way the model
then predicts noise without a word. `CheckedLoadingMixin` asks transformers for its loading report and
raises, naming the folder, when a weight is missing (beyond the class's
``_keys_to_ignore_on_load_missing``), stored with another shape or as integers, or not finite. Tensors
the class fills itself after loading (those same keys, e.g. the LF's backbone, which it loads from the SB
it names) are not checked here: until then they hold uninitialised memory.

Self-contained (nothing from synthforge_hf): `save_pretrained` copies it into model folders.
"""

from __future__ import annotations

import json
import re

import torch
from safetensors import safe_open
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, cached_file

FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")  # safetensors' names of the floating-point types
HUB_OPTIONS = ("cache_dir", "force_download", "proxies", "local_files_only", "token", "revision", "subfolder")


class DamagedCheckpointError(ValueError):
    """A checkpoint that lacks weights the model needs, or holds wrong or non-finite ones."""


def _listed(names: list[str]) -> str:
    return f"{', '.join(names[:3])}{', ...' if len(names) > 3 else ''}"


def checkpoint_dtypes(model_id, **kwargs) -> dict[str, str]:
    """The safetensors dtype (``"F32"``, ``"I32"`` ...) of every tensor of a model folder or Hub repo's
    weight file(s), by name; empty when it has no safetensors weights."""
    hub = {key: kwargs[key] for key in HUB_OPTIONS if key in kwargs}
    found = {"_raise_exceptions_for_missing_entries": False, **hub}
    files = [cached_file(model_id, SAFE_WEIGHTS_NAME, **found)]
    if files[0] is None:
        index = cached_file(model_id, SAFE_WEIGHTS_INDEX_NAME, **found)
        if index is None:
            return {}
        with open(index) as handle:
            shards = sorted(set(json.load(handle)["weight_map"].values()))
        files = [cached_file(model_id, shard, **hub) for shard in shards]
    dtypes = {}
    for path in files:
        with safe_open(path, "pt") as weights:
            dtypes.update({name: weights.get_slice(name).get_dtype() for name in weights.keys()})
    return dtypes


class CheckedLoadingMixin:
    """Put before `PreTrainedModel` in the bases: its `from_pretrained` checks what it loaded."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        wants_info = kwargs.pop("output_loading_info", False)
        try:
            model, info = super().from_pretrained(
                pretrained_model_name_or_path, *args, output_loading_info=True, **kwargs
            )
        except RuntimeError as error:
            if "mismatch" not in str(error):
                raise
            raise DamagedCheckpointError(
                f"{pretrained_model_name_or_path}: weights of the checkpoint have other shapes than its "
                "config.json gives them (see the load report above); it is damaged or of another model"
            ) from None
        name = pretrained_model_name_or_path
        missing = sorted(info["missing_keys"])
        if missing:
            raise DamagedCheckpointError(
                f"{name}: the checkpoint lacks {len(missing)} weight(s) of {cls.__name__} "
                f"({_listed(missing)}); it is damaged or of another model"
            )
        filled_later = [re.compile(p) for p in getattr(cls, "_keys_to_ignore_on_load_missing", None) or ()]
        loaded = {
            key: tensor
            for key, tensor in model.state_dict().items()
            if not any(pattern.search(key) for pattern in filled_later) and tensor.is_floating_point()
        }
        stored = checkpoint_dtypes(name, **kwargs)
        integers = sorted(key for key in loaded if stored.get(key, "F32") not in FLOAT_DTYPES)
        if integers:
            raise DamagedCheckpointError(
                f"{name}: {len(integers)} floating-point weight(s) are stored as integers "
                f"({_listed(integers)}: {stored[integers[0]]}); it is damaged or wrongly converted"
            )
        bad = [
            key
            for key, tensor in loaded.items()
            if tensor.device.type != "meta" and not torch.isfinite(tensor).all()
        ]
        if bad:
            raise DamagedCheckpointError(
                f"{name}: {len(bad)} weight(s) hold NaN or infinite values ({_listed(bad)}); "
                "the checkpoint is damaged"
            )
        return (model, info) if wants_info else model
