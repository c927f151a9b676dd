"""What several commands share: reading the options, the device, model folders, progress bars."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .parser import CommandLine


def description(function: Callable) -> str | None:
    """A command function's ``--help`` description: the first paragraph of its docstring (the rest, its
    arguments and an example, is for readers of the code)."""
    return function.__doc__.split("\n\n")[0] if function.__doc__ else None


def parse(command: str, function: Callable, argv: list[str] | None, *dataclass_types: type) -> list:
    """The option dataclasses of ``synthforge COMMAND`` (the function's `description` is its help's)."""
    return CommandLine(f"synthforge {command}", description(function), *dataclass_types).parse(argv)


def resolve_device(name: str) -> str:
    """``--device``: ``auto`` is CUDA when present, else the CPU; any other name must be a device torch
    knows and this machine has (a `ValueError` naming the option otherwise)."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(
            f"--device {name}: not a device name torch knows (cpu, cuda, cuda:1, mps, ...)"
        ) from None
    available = {
        "cpu": lambda: True,
        "cuda": lambda: torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count(),
        "mps": lambda: torch.backends.mps.is_available(),
    }.get(device.type, lambda: True)
    if not available():
        raise ValueError(f"--device {name}: this machine has no such device; use --device cpu (or auto)")
    return name


def model_source(value: str, option: str) -> str:
    """A model given as ``--option VALUE``: an existing folder, or a Hub repo id; a path that names no
    folder is refused here, in one line, instead of being sent to the Hub as an id."""
    path = Path(value).expanduser()
    if path.is_dir():
        return str(path)
    if path.exists():
        raise ValueError(f"{option} {value}: a file, not a model folder (the folder that holds config.json)")
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(value)
    except HFValidationError:
        raise ValueError(f"{option} {value}: no such folder (and not a Hub repo id either)") from None
    return value


def silence_progress_bars() -> None:
    """Turn off the bars that transformers, huggingface_hub and datasets draw while loading."""
    import datasets
    import huggingface_hub.utils
    import transformers

    transformers.utils.logging.disable_progress_bar()
    huggingface_hub.utils.disable_progress_bars()
    datasets.disable_progress_bars()
