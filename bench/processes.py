"""What a benchmark reads of a bot running as its own process (Linux ``/proc``).

Throughput on this shared 2-core machine swings with whatever else runs; the CPU time a
bot spends per press does not (waiting for a core is not counted), so the press benches
report it beside presses/s: floor CPU / delphi CPU per press is how much of the bare
library's capacity delphi keeps, measured in the same runs.
"""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_mb(pid: int, key: str) -> float | None:
    """A size from ``/proc/PID/status`` in MB (``VmRSS``, ``VmHWM`` for the peak)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
