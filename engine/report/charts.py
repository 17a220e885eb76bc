"""The report's figures, drawn with matplotlib's object API on the Agg canvas.

No pyplot: no global figure state, safe inside a running bot. Every function returns PNG
a 300 dpi PNG with SVG and PDF twins (:func:`render`), written without a timestamp or
version in the metadata, so the same data gives the same files.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from engine.report.figure import Figure as Rendered

if TYPE_CHECKING:
    from engine.report.data import StatementData

AGREE = "#2e7d32"
DISAGREE = "#c62828"
NEUTRAL = "#9e9e9e"
INK = "#212121"
CLASS_COLOURS = {"in": AGREE, "out": DISAGREE, "none": "#f9a825"}


@dataclass(frozen=True)
class Bands:
    points: int
    agree: tuple[int, ...]
    disagree: tuple[int, ...]

    def colour(self, point: int) -> str:
        if point in self.agree:
            return AGREE
        return DISAGREE if point in self.disagree else NEUTRAL


def _distribution(axes: Axes, bands: Bands, counts: Mapping[int, int], title: str,
                  mark: int | None = None, median: float | None = None) -> None:
    points = list(range(1, bands.points + 1))
    heights = [counts.get(p, 0) for p in points]
    bars = axes.bar(points, heights, color=[bands.colour(p) for p in points], width=0.8)
    if mark is not None and 1 <= mark <= bands.points:
        bar = bars[mark - 1]
        bar.set_edgecolor(INK)
        bar.set_linewidth(2.2)
        axes.annotate("you", (mark, heights[mark - 1]), xytext=(0, 3),
                      textcoords="offset points", ha="center", fontsize=7, color=INK)
    if median is not None:
        axes.axvline(median, color=INK, linestyle="--", linewidth=1)
    axes.set_xticks(points)
    axes.tick_params(labelsize=7)
    axes.set_ylim(0, max([*heights, 1]) * 1.25)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(title, fontsize=8)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def render(figure: Figure) -> Rendered:
    """The figure as a 300 dpi PNG with SVG and PDF twins, without dates or versions in
    the metadata (and fixed SVG ids), so the same data gives byte-identical files."""
    out: dict[str, bytes] = {}
    with rc_context({"svg.hashsalt": "delphi-report"}):
        for kind, metadata in (("png", {"Software": None}),
                               ("svg", {"Date": None, "Creator": None}),
                               ("pdf", {"CreationDate": None, "Creator": None,
                                        "Producer": None})):
            buffer = io.BytesIO()
            figure.savefig(buffer, format=kind, dpi=300, metadata=metadata,
                           bbox_inches="tight", pad_inches=0.08)
            out[kind] = buffer.getvalue()
    return Rendered(png=out["png"], svg=out["svg"], pdf=out["pdf"])


def _clean(axes: Axes) -> None:
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def consensus_chart(statements: Sequence[StatementData], rounds: Sequence[int]) -> Rendered:
    """Statements per round by class (stacked), and the cumulative number endorsed."""
    figure = Figure(figsize=(6.4, 2.8))
    axes = figure.add_subplot(1, 1, 1)
    bottoms = [0] * len(rounds)
    for name, label in (("in", "consensus to endorse"), ("out", "consensus to reject"),
                        ("none", "no consensus")):
        heights = [sum(1 for s in statements for r in s.results
                       if r.round == number and r.consensus == name) for number in rounds]
        axes.bar([str(r) for r in rounds], heights, bottom=bottoms, label=label,
                 color=CLASS_COLOURS[name], width=0.55)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    cumulative = [sum(1 for s in statements
                      if any(r.consensus == "in" and r.round <= number for r in s.results))
                  for number in rounds]
    axes.plot([str(r) for r in rounds], cumulative, color=INK, marker="o",
              label="endorsed so far (cumulative)")
    axes.set_xlabel("Round")
    axes.set_ylabel("Statements")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _clean(axes)
    figure.tight_layout()
    return render(figure)


@dataclass(frozen=True)
class FlowStep:
    """One box of the participant flow and, beside it, who left at that step."""

    text: str
    aside: str | None = None


def flow_chart(steps: Sequence[FlowStep]) -> Rendered:
    """The participant flow drawn the CONSORT way: one column of boxes from invitation to
    the last round, each exclusion in a box to the right with its count."""
    rows = max(1, len(steps))
    figure = Figure(figsize=(6.6, 0.85 * rows + 0.2))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_axis_off()
    main = {"boxstyle": "round,pad=0.45", "facecolor": "#e3f2fd", "edgecolor": "#546e7a"}
    side = {"boxstyle": "round,pad=0.4", "facecolor": "#ffebee", "edgecolor": "#546e7a"}
    arrow = {"arrowstyle": "-|>", "color": "#546e7a", "shrinkA": 4, "shrinkB": 4}
    previous = None
    for index, step in enumerate(steps):
        y = 1 - (index + 0.5) / rows
        box = axes.text(0.3, y, step.text, ha="center", va="center", fontsize=8,
                        bbox=main, wrap=False)
        if previous is not None:
            axes.annotate("", xy=(0.5, 1.0), xycoords=box, xytext=(0.5, 0.0),
                          textcoords=previous, arrowprops=arrow)
        if step.aside:
            aside = axes.text(0.78, y, step.aside, ha="center", va="center", fontsize=7.5,
                              bbox=side)
            axes.annotate("", xy=(0.0, 0.5), xycoords=aside, xytext=(1.0, 0.5),
                          textcoords=box, arrowprops=arrow)
        previous = box
    return render(figure)


@dataclass(frozen=True)
class Trajectory:
    """One statement in the overview: its label, domain and % agreement per round."""

    label: str
    domain: str
    points: list[tuple[int, float | None]]  # (round, % agreement)
    final: str  # verdict colour key: in / out / none


def overview_chart(rows: Sequence[Trajectory], threshold: float | None) -> Rendered:
    """% agreement of every statement in every round against the threshold, grouped by
    domain: one line per statement, a dot per round, the last dot in the verdict's colour."""
    count = max(1, len(rows))
    figure = Figure(figsize=(6.6, 0.24 * count + 1.3))
    axes = figure.add_subplot(1, 1, 1)
    rounds = sorted({r for row in rows for r, _ in row.points})
    shades = {r: str(0.75 - 0.55 * i / max(1, len(rounds) - 1)) for i, r in enumerate(rounds)}
    for y, row in enumerate(rows):
        points = [(r, p) for r, p in row.points if p is not None]
        if not points:
            continue
        axes.plot([p for _, p in points], [y] * len(points), color="#b0bec5", linewidth=1,
                  zorder=1)
        for index, (number, value) in enumerate(points):
            last = index == len(points) - 1
            axes.scatter([value], [y], s=28 if last else 16, zorder=2,
                         color=CLASS_COLOURS.get(row.final, NEUTRAL) if last
                         else shades[number], edgecolors=INK if last else "none",
                         linewidths=0.5)
    if threshold is not None:
        axes.axvline(threshold, color=INK, linestyle="--", linewidth=1)
    axes.set_yticks(range(len(rows)), [row.label for row in rows], fontsize=7)
    axes.set_ylim(len(rows) - 0.5, -0.6)
    axes.set_xlim(0, 100)
    axes.set_xlabel("Agreement (% of valid ratings in the agree set)")
    domains = [row.domain for row in rows]
    for y in range(1, len(rows)):
        if domains[y] != domains[y - 1]:
            axes.axhline(y - 0.5, color="#cfd8dc", linewidth=0.8)
    for domain in dict.fromkeys(domains):
        first = domains.index(domain)
        axes.text(101, first, domain, fontsize=7, va="center", ha="left", color="#455a64",
                  clip_on=False)
    handles = [Line2D([], [], marker="o", linestyle="", color=shades[r], label=f"round {r}")
               for r in rounds[:-1]]
    handles += [Line2D([], [], marker="o", linestyle="", color=colour, markeredgecolor=INK,
                       label=label) for colour, label in (
        (AGREE, "final: endorsed"), (DISAGREE, "final: rejected"),
        (CLASS_COLOURS["none"], "final: no consensus"))]
    if threshold is not None:
        handles.append(Line2D([], [], color=INK, linestyle="--", linewidth=1,
                              label=f"threshold {threshold:g} %"))
    axes.legend(handles=handles, fontsize=7, loc="lower center", ncols=3, frameon=False,
                bbox_to_anchor=(0.5, 1.0))
    axes.tick_params(axis="x", labelsize=7)
    _clean(axes)
    figure.tight_layout()
    return render(figure)


@dataclass(frozen=True)
class Panel:
    """One small multiple: a plain-language title and the final round's counts."""

    title: str
    counts: Mapping[int, int]
    median: float | None


def distributions_chart(panels: Sequence[Panel], bands: Bands) -> Rendered:
    """Small multiples of the final distributions on shared axes (Rating, Experts)."""
    count = max(1, len(panels))
    columns = min(4, count)
    rows = (count + columns - 1) // columns
    figure = Figure(figsize=(1.75 * columns + 0.6, 1.45 * rows + 0.6))
    grid = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    top = max([1, *(max(p.counts.values(), default=0) for p in panels)])
    for index, axes in enumerate(grid.flat):
        if index >= len(panels):
            axes.set_axis_off()
            continue
        panel = panels[index]
        _distribution(axes, bands, panel.counts, panel.title, median=panel.median)
        axes.set_ylim(0, top * 1.15)
    figure.supxlabel("Rating", fontsize=9)
    figure.supylabel("Experts", fontsize=9)
    figure.tight_layout()
    return render(figure)


@dataclass(frozen=True)
class MarkableChart:
    """A round's small multiples drawn once, with every bar's box in image pixels, so each
    expert's copy only needs their own ratings outlined (:func:`mark`, milliseconds)
    instead of a full matplotlib render per expert."""

    png: bytes
    boxes: list[dict[int, tuple[int, int, int, int]]]  # per panel: point -> (x0, y0, x1, y1)


def round_overview(title: str, panels: Sequence[tuple[str, Mapping[int, int], float | None]],
                   bands: Bands, dpi: int = 96) -> MarkableChart:
    """Small multiples for the chat: one panel per statement (label, counts, median)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    count = max(1, len(panels))
    columns = min(3, count)
    rows = (count + columns - 1) // columns
    figure = Figure(figsize=(2.4 * columns, 1.7 * rows + 0.6), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    figure.suptitle(title, fontsize=10)
    axes_list = []
    for index, (label, counts, median) in enumerate(panels, start=1):
        axes = figure.add_subplot(rows, columns, index)
        _distribution(axes, bands, counts, label, median=median)
        axes_list.append(axes)
    figure.tight_layout()
    canvas.draw()  # type: ignore[no-untyped-call]
    height = round(figure.bbox.height)
    boxes = []
    for axes in axes_list:
        panel: dict[int, tuple[int, int, int, int]] = {}
        for point, patch in enumerate(axes.patches, start=1):
            extent = patch.get_window_extent()
            top = min(extent.y1, extent.y0)
            panel[point] = (int(extent.x0), int(height - extent.y1 - 1),
                            int(extent.x1), int(height - top + 1))
        boxes.append(panel)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return MarkableChart(buffer.getvalue(), boxes)


def mark(chart: MarkableChart, own: Sequence[int | None]) -> bytes:
    """The chart with the expert's own rating outlined in each panel (None: no mark)."""
    from PIL import Image, ImageDraw

    image = Image.open(io.BytesIO(chart.png)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for panel, point in zip(chart.boxes, own, strict=False):
        if point is None or point not in panel:
            continue
        x0, y0, x1, y1 = panel[point]
        y0 = min(y0, y1 - 4)  # a zero-height bar still gets a visible box
        draw.rectangle((x0 - 2, y0 - 2, x1 + 2, y1 + 1), outline=INK, width=3)
        draw.text(((x0 + x1) / 2, y0 - 4), "you", fill=INK, anchor="ms")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
