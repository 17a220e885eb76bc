"""One figure of the report in the three formats journals ask for (no heavy imports, so
the chart module can build it without loading the template engine)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    png: bytes  # 300 dpi raster
    svg: bytes  # vector, embedded in the HTML
    pdf: bytes  # vector, for the manuscript system
