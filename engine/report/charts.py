"""The report's figures, drawn with matplotlib's object API on the Agg canvas.

No pyplot: no global figure state, safe inside a running bot. Every function returns PNG
bytes written without a timestamp or version in the metadata, so the same data gives
the same image.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from matplotlib.ticker import MaxNLocator

from engine.report.data import Result, RoundFlow, StatementData

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


def png(figure: Figure, dpi: int = 96) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def _distribution(axes: object, bands: Bands, counts: dict[int, int], title: str,
                  mark: int | None = None, median: float | None = None) -> None:
    from matplotlib.axes import Axes

    assert isinstance(axes, Axes)
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


def _round_title(result: Result) -> str:
    version = f" (v{result.version})" if result.version > 1 else ""
    return f"Round {result.round}{version}: n={result.n}, {result.consensus}"


def statement_chart(statement: StatementData, bands: Bands) -> bytes:
    """One panel per round the statement was rated in: the distribution, the median."""
    results = statement.results
    figure = Figure(figsize=(2.3 * max(1, len(results)) + 0.4, 1.9))
    figure.suptitle(f"{statement.code}: distribution of ratings by round", fontsize=9)
    if not results:
        axes = figure.add_subplot(1, 1, 1)
        axes.set_axis_off()
        axes.text(0.5, 0.5, "not rated", ha="center", va="center")
    for index, result in enumerate(results, start=1):
        axes = figure.add_subplot(1, len(results), index)
        _distribution(axes, bands, result.counts, _round_title(result), median=result.median)
        if result.n_unable:
            axes.set_xlabel(f"unable to rate: {result.n_unable}", fontsize=7)
    figure.tight_layout()
    return png(figure)


def consensus_chart(statements: Sequence[StatementData], rounds: Sequence[int]) -> bytes:
    """Statements per round by class (stacked), and the cumulative number endorsed."""
    figure = Figure(figsize=(5.2, 2.8))
    axes = figure.add_subplot(1, 1, 1)
    bottoms = [0] * len(rounds)
    for name, label in (("in", "consensus in"), ("out", "consensus out"),
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
    axes.set_xlabel("round")
    axes.set_ylabel("statements")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    axes.set_title("Consensus per round", fontsize=10)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    figure.tight_layout()
    return png(figure)


def _box(axes: object, x: float, y: float, text: str, width: float = 0.36,
         colour: str = "#e3f2fd") -> None:
    from matplotlib.axes import Axes

    assert isinstance(axes, Axes)
    axes.add_patch(FancyBboxPatch((x - width / 2, y - 0.045), width, 0.09,
                                  boxstyle="round,pad=0.01", facecolor=colour,
                                  edgecolor="#546e7a"))
    axes.text(x, y, text, ha="center", va="center", fontsize=8)


def _arrow(axes: object, start: tuple[float, float], end: tuple[float, float]) -> None:
    from matplotlib.axes import Axes

    assert isinstance(axes, Axes)
    axes.annotate("", xy=end, xytext=start,
                  arrowprops={"arrowstyle": "->", "color": "#546e7a"})


def flow_chart(rounds: Sequence[RoundFlow]) -> bytes:
    """A CONSORT-like participant flow: invited -> consented -> each round, with losses."""
    steps = len(rounds) + 2
    figure = Figure(figsize=(6.4, 0.75 * steps + 0.3))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_axis_off()
    ys = [1 - (i + 0.6) / steps for i in range(steps)]
    last = rounds[-1] if rounds else None
    invited = last.invited if last else 0
    consented = last.consented if last else 0
    _box(axes, 0.33, ys[0], f"Invited: {invited}")
    _box(axes, 0.33, ys[1], f"Consented: {consented}")
    _arrow(axes, (0.33, ys[0] - 0.045), (0.33, ys[1] + 0.045))
    previous_withdrawn = 0
    for index, flow in enumerate(rounds):
        y = ys[index + 2]
        rate = "–" if flow.response_rate is None else f"{flow.response_rate:.0f} %"
        _box(axes, 0.33, y, f"Round {flow.number}: eligible {flow.eligible}, "
                            f"submitted {flow.submitted} ({rate})", width=0.56)
        _arrow(axes, (0.33, ys[index + 1] - 0.045), (0.33, y + 0.045))
        lost = flow.withdrawn - previous_withdrawn
        if lost or flow.unreachable:
            _box(axes, 0.82, y, f"withdrawn {lost}, unreachable {flow.unreachable}",
                 width=0.3, colour="#ffebee")
            _arrow(axes, (0.61, y), (0.67, y))
        previous_withdrawn = flow.withdrawn
    return png(figure)


@dataclass(frozen=True)
class MarkableChart:
    """A round's small multiples drawn once, with every bar's box in image pixels, so each
    expert's copy only needs their own ratings outlined (:func:`mark`, milliseconds)
    instead of a full matplotlib render per expert."""

    png: bytes
    boxes: list[dict[int, tuple[int, int, int, int]]]  # per panel: point -> (x0, y0, x1, y1)


def round_overview(title: str, panels: Sequence[tuple[str, dict[int, int], float | None]],
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
