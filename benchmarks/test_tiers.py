"""How long the test tiers take: the fast tier for the inner loop (`pytest -m "not slow"`) and, with
``--full``, the whole suite CI runs, each as the README and CONTRIBUTING.md give the command.

    python benchmarks/test_tiers.py [--full]

Writes benchmarks/results/test-tiers.json (quoted in CONTRIBUTING.md). Target for the fast tier: under 3
minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from recording import RESULTS, write_result

ROOT = Path(__file__).resolve().parents[1]
TIERS = {"fast": ["-m", "not slow"], "full": []}


def run_tier(name: str) -> dict:
    """One pytest run of the tier: its wall minutes and how many tests passed."""
    start = time.perf_counter()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TIERS[name]]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    minutes = (time.perf_counter() - start) / 60
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if result.returncode != 0:
        raise SystemExit(f"the {name} tier failed: {summary}\n{result.stdout[-3000:]}")
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    return {
        "tier": name,
        "command": "pytest -q " + " ".join(TIERS[name]),
        "passed": passed,
        "minutes": round(minutes, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="also time the whole suite")
    parser.add_argument("--out", type=Path, default=RESULTS / "test-tiers.json")
    args = parser.parse_args()
    tiers = [run_tier(name) for name in (("fast", "full") if args.full else ("fast",))]
    for tier in tiers:
        print(f"{tier['tier']}: {tier['passed']} tests in {tier['minutes']} minutes")
    write_result(args.out, {"tiers": tiers, "target": "fast tier under 3 minutes on 2 cores"})


if __name__ == "__main__":
    main()
