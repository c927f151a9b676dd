"""Running the CLI the way `accelerate launch` / `torchrun` does: several processes on this machine."""

from __future__ import annotations

import subprocess
import sys


def run_cli_in_processes(
    args: list[str], processes: int = 2, timeout: int = 300
) -> subprocess.CompletedProcess:
    """`torch.distributed.run --standalone --nproc_per_node N -m synthforge_hf.cli ARGS`; fails on error."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",  # a free rendezvous port, so concurrent runs cannot collide
        "--nproc_per_node",
        str(processes),
        "-m",
        "synthforge_hf.cli",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-2000:]
    return result
