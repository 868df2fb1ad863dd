"""Benchmark: how long each notebook takes to execute in a fresh kernel.

Targets (issue 3): each notebook under 20 s, all of them under 90 s, on the
2-core machine. Prints the median of --repeat runs per notebook and the total.
The teacher versions (solutions/, every exercise solved) by default; the student
versions, whose checks fail, are ``notebooks/*.ipynb``.
Run: .venv/bin/python bench/notebooks.py [--repeat 3] [solutions/*.ipynb]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def run_once(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    paths = args.paths or sorted((ROOT / "solutions").glob("[0-9][0-9]-*.ipynb"))
    print(f"{'notebook':32} {'median s':>9} {'min s':>7} {'max s':>7}   (target < 20 s each)")
    total = 0.0
    for path in paths:
        times = [run_once(path) for _ in range(args.repeat)]
        median = statistics.median(times)
        total += median
        flag = "" if median < 20 else "  ← over target"
        print(f"{path.stem:32} {median:9.1f} {min(times):7.1f} {max(times):7.1f}{flag}")
    print(f"{'all notebooks (sum of medians)':32} {total:9.1f}   (target < 90 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
