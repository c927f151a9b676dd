"""Option dataclass fields and the checks their ``__post_init__`` run, shared by the commands' options
(`synthforge_hf.cli.arguments`) and the training arguments (`synthforge_hf.training.arguments`).

A field's help is its ``metadata["help"]``; `positional` marks an argument given without an option name.
A refused value raises `ValueError` with a message that names the option as the command line spells it.
"""

from __future__ import annotations

import math
from dataclasses import field
from typing import Any

from .constants import MAX_SEED


def positional(help: str, *, nargs: str | None = None) -> Any:
    """A dataclass field read as a positional argument (not ``--name``)."""
    metadata = {"help": help, "positional": True}
    if nargs:
        metadata["nargs"] = nargs
    return field(init=False, metadata=metadata)


def option(help: str, **kwargs) -> Any:
    """A dataclass field read as ``--name`` (and ``--name-with-hyphens``)."""
    return field(metadata={"help": help}, **kwargs)


def flag_name(name: str) -> str:
    """How the command line spells the option of field ``name``."""
    return f"--{name.replace('_', '-')}"


def refuse_negative(arguments: Any, *names: str) -> None:
    for name in names:
        value = getattr(arguments, name)
        if value is not None and not value >= 0:
            raise ValueError(f"{flag_name(name)} must not be negative, got {value}")


def require_positive(arguments: Any, *names: str) -> None:
    for name in names:
        value = getattr(arguments, name)
        if not value > 0:
            raise ValueError(f"{flag_name(name)} must be positive, got {value}")


def require_finite(arguments: Any, *names: str) -> None:
    for name in names:
        value = getattr(arguments, name)
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{flag_name(name)} must be a finite number, got {value}")


def require_fraction(arguments: Any, *names: str) -> None:
    for name in names:
        value = getattr(arguments, name)
        if not 0 <= value <= 1:
            raise ValueError(f"{flag_name(name)} must lie in [0, 1], got {value}")


def require_seed(arguments: Any, name: str = "seed") -> None:
    value = getattr(arguments, name)
    if not 0 <= value <= MAX_SEED:
        raise ValueError(f"{flag_name(name)} must be an integer from 0 to 2**63 - 1, got {value}")
