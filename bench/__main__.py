"""Run every benchmark module, print a table, write bench-results/bench.json."""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

# Add a module here (with a ``run() -> dict``) to include it in ``make bench``.
MODULES = ["bench.stats_bench", "bench.telegram_bench", "bench.slack_bench",
           "bench.press_instructions", "bench.outbox_bench", "bench.soak_bench",
           "bench.close_bench"]
OUTPUT = Path("bench-results") / "bench.json"


def _plain(value: Any) -> Any:
    """numpy scalars (and anything else with ``item``) as plain JSON values."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _table(results: list[dict[str, Any]]) -> str:
    header = ("benchmark", "case", "median s", "min s", "reps")
    rows = [header]
    for result in results:
        for row in result["rows"]:
            median = row.get("median_s")  # a count-only benchmark has no time
            rows.append((result["name"], str(row["case"]),
                         "" if median is None else f"{median:.4f}",
                         "" if median is None else f"{row.get('min_s', median):.4f}",
                         str(row.get("reps", ""))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench [MODULE ...]``: run all (or the named) benchmark modules."""
    names = argv if argv else MODULES
    results: list[dict[str, Any]] = []
    for name in names:
        module = importlib.import_module(name if "." in name else f"bench.{name}")
        print(f"running {module.__name__} ...", file=sys.stderr, flush=True)
        results.append(module.run())
    print(_table(results))
    for result in results:
        for line in result.get("summary", []):
            print(f"{result['name']}: {line}")
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "benchmarks": results,
    }
    text = json.dumps(document, indent=2, sort_keys=True, default=_plain)
    OUTPUT.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
