"""The report's plots, drawn with matplotlib and returned as inline SVG (so the HTML needs no files
and no script). matplotlib is imported here only, with the Agg backend (no screen)."""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Mapping, Sequence

from model.accuracy import AccuracySummary
from model.drift import ColumnDrift, DriftSummary

BASELINE_COLOUR = "#4c72b0"
CURRENT_COLOUR = "#dd8452"
LIMIT_COLOUR = "#c44e52"


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False, "svg.hashsalt": "modelstage"})
    return plt


def _svg(fig) -> str:  # type: ignore[no-untyped-def]
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    _pyplot().close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # the XML prolog and doctype are not allowed inside HTML


def _bin_label(lo: float, hi: float) -> str:
    return f"{lo:.4g} to {hi:.4g}"


def distribution(column: ColumnDrift) -> str:
    """Baseline vs current share of values per baseline bin (the bins PSI is computed over)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    edges = column.edges
    inner = edges[1:-1]  # the outer edges are open when binning new values
    labels = [f"< {inner[0]:.4g}", *(_bin_label(a, b) for a, b in itertools.pairwise(inner)), f"≥ {inner[-1]:.4g}"]
    x = list(range(len(column.baseline_share)))
    width = 0.4
    ax.bar([i - width / 2 for i in x], column.baseline_share, width, label="baseline", color=BASELINE_COLOUR)
    ax.bar([i + width / 2 for i in x], column.current_share, width, label="current", color=CURRENT_COLOUR)
    ax.set_xticks(x, labels[:len(x)], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("share of values")
    ax.set_title(f"{column.name}" + (" (prediction)" if column.kind == "prediction" else ""))
    ax.legend(frameon=False)
    return _svg(fig)


def _series(ax, x: Sequence[str], values: Sequence[float | None], label: str) -> None:  # type: ignore[no-untyped-def]
    ax.plot(range(len(x)), [math.nan if v is None else v for v in values], marker="o", markersize=3, label=label)


def _x_axis(ax, starts: Sequence[str]) -> None:  # type: ignore[no-untyped-def]
    step = max(1, len(starts) // 12)
    ticks = list(range(0, len(starts), step))
    ax.set_xticks(ticks, [starts[i] for i in ticks], rotation=30, ha="right", fontsize=7)


def drift_over_time(summary: DriftSummary) -> str:
    """PSI per column per window, with the threshold."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 3.2))
    starts = [w.start for w in summary.windows]
    for column in summary.columns:
        _series(ax, starts, [w.psi.get(column.name) for w in summary.windows], column.name)
    ax.axhline(summary.thresholds.psi, color=LIMIT_COLOUR, linestyle="--", linewidth=1, label="threshold")
    _x_axis(ax, starts)
    ax.set_ylabel("PSI")
    ax.set_title(f"PSI per {summary.window_unit}")
    ax.legend(frameon=False, fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(fig)


def accuracy_over_time(summary: AccuracySummary, metric: str) -> str:
    """One metric per window against the bundle's held-out value and the tolerated limit."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 3.0))
    starts = [w.start for w in summary.windows]
    _series(ax, starts, [w.metrics.get(metric) for w in summary.windows], metric)
    reference: Mapping[str, float] = summary.reference
    if metric in reference:
        ref = reference[metric]
        limit = ref - summary.tolerance if metric == "r2" else ref * (1 + summary.tolerance)
        ax.axhline(ref, color=BASELINE_COLOUR, linewidth=1, label="bundle (held-out)")
        ax.axhline(limit, color=LIMIT_COLOUR, linestyle="--", linewidth=1, label="tolerated limit")
    _x_axis(ax, starts)
    ax.set_ylabel(metric.upper())
    ax.set_title(f"{metric.upper()} per {summary.window_unit}")
    ax.legend(frameon=False, fontsize=7)
    return _svg(fig)
