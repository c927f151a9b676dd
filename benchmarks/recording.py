"""Where benchmark figures live: one JSON file per benchmark under benchmarks/results/, holding the
figures with the command that measured them, the machine and the date. The README, docs/benchmarks.md
and the model cards quote these files (a test checks that they agree)."""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """The processor, its cores and load, and the library versions a figure depends on."""
    import torch

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def write_result(path: Path, figures: dict) -> Path:
    """Write ``figures`` to ``path`` with the command line that made them, the machine and the date."""
    record = {
        "command": "python " + shlex.join([os.path.relpath(sys.argv[0]), *sys.argv[1:]]),
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        **figures,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
    return path


def name_value_options(pairs: list[str], flag: str) -> dict:
    """``NAME=VALUE`` command-line pairs as a dict, each value read as JSON (``true``, ``0.4``, ...)."""
    options = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator:
            raise SystemExit(f"{flag} {pair!r}: expected NAME=VALUE")
        try:
            options[name] = json.loads(value)
        except json.JSONDecodeError as error:
            raise SystemExit(f"{flag} {pair!r}: the value is not JSON ({error})") from error
    return options
