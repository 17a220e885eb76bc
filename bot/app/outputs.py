"""Writing a command's output files (exports, report, demo) into a folder."""

from __future__ import annotations

from pathlib import Path


def write_files(out: Path, files: dict[str, bytes]) -> None:
    """Write ``{relative name: bytes}`` under ``out``, creating folders as needed."""
    for name, content in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(content)
