"""`from_pretrained` that refuses a damaged checkpoint instead of running on made-up weights.

transformers fills weights missing from a checkpoint with fresh random values and only logs it, and
loads NaN or infinite values as they are; either way the model then predicts noise without a word.
`CheckedLoadingMixin` asks transformers for its loading report and raises, naming the folder, when a
weight is missing (beyond the class's ``_keys_to_ignore_on_load_missing``) or a loaded tensor is not
finite. Tensors the class fills itself after loading (those same keys, e.g. the LF's backbone, which
it loads from the SB it names) are not checked here: until then they hold uninitialised memory."""

from __future__ import annotations

import re

import torch


class DamagedCheckpointError(ValueError):
    """A checkpoint that lacks weights the model needs, or holds non-finite ones."""


class CheckedLoadingMixin:
    """Put before `PreTrainedModel` in the bases: its `from_pretrained` checks what it loaded."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        wants_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(
            pretrained_model_name_or_path, *args, output_loading_info=True, **kwargs
        )
        missing = sorted(info["missing_keys"])
        if missing:
            raise DamagedCheckpointError(
                f"{pretrained_model_name_or_path}: the checkpoint lacks {len(missing)} weight(s) of "
                f"{cls.__name__} ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); "
                "it is damaged or of another model"
            )
        filled_later = [re.compile(p) for p in getattr(cls, "_keys_to_ignore_on_load_missing", None) or ()]
        bad = [
            name
            for name, tensor in model.state_dict().items()
            if not any(pattern.search(name) for pattern in filled_later)
            and tensor.is_floating_point()
            and tensor.device.type != "meta"
            and not torch.isfinite(tensor).all()
        ]
        if bad:
            raise DamagedCheckpointError(
                f"{pretrained_model_name_or_path}: {len(bad)} weight(s) hold NaN or infinite values "
                f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); the checkpoint is damaged"
            )
        return (model, info) if wants_info else model
