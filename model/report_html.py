"""The monitoring report: one self-contained HTML page (inline SVG plots, inline CSS, no script, no
external file) and the same facts as JSON. Every name that came from data is escaped."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from model.accuracy import METRICS, AccuracySummary
from model.drift import ColumnDrift, DriftSummary
from model.errors import ModelstageError

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.verdict { padding: .6rem 1rem; border-radius: .3rem; display: inline-block; font-weight: 600; }
.bad { background: #fde2e1; color: #8a1c17; } .good { background: #e2f5e3; color: #1d5e24; }
table { border-collapse: collapse; font-size: .85rem; } td, th { padding: .25rem .6rem; text-align: right; }
th { border-bottom: 1px solid #999; } td:first-child, th:first-child, td.reasons { text-align: left; }
tr.drift td { background: #fff3f2; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; } figure.plot { margin: 0; }
figure.plot svg { max-width: 100%; height: auto; }
.notes { color: #555; font-size: .85rem; }
"""


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _column_row(c: ColumnDrift) -> str:
    reasons = escape("; ".join(c.reasons)) if c.reasons else "ok"
    return (f'<tr class="{"drift" if c.drifted else "ok"}"><td>{escape(c.name)}</td><td>{c.kind}</td>'
            f"<td>{c.values}</td><td>{_num(c.psi, '.4f')}</td><td>{_num(c.ks and c.ks.distance, '.4f')}</td>"
            f"<td>{_num(c.ks and c.ks.p_value, '.2e')}</td><td>{c.missing_rate:.2%}</td>"
            f"<td>{c.baseline_missing_rate:.2%}</td><td>{_num(c.out_of_range_rate, '.2%')}</td>"
            f'<td class="reasons">{reasons}</td></tr>')


def _figure(svg: str, name: str, caption: str) -> str:
    return f'<figure class="plot" data-plot="{escape(name)}">{svg}<figcaption>{escape(caption)}</figcaption></figure>'


def _drift_section(summary: DriftSummary) -> str:
    from model import report_plots

    t = summary.thresholds
    verdict = (f'<p class="verdict bad">Drift in {escape(", ".join(summary.drifted))}</p>' if summary.drifted
               else '<p class="verdict good">No drift</p>')
    rows = "".join(_column_row(c) for c in summary.columns)
    plots = "".join(_figure(report_plots.distribution(c), f"distribution:{c.name}",
                            f"{c.name}: share of values per baseline bin") for c in summary.columns)
    over_time = ""
    if summary.windows:
        over_time = ("<h3>Drift over time</h3>"
                     + _figure(report_plots.drift_over_time(summary), "drift-over-time",
                               f"PSI per {summary.window_unit}, {len(summary.windows)} windows"))
    notes = "".join(f"<li>{escape(n)}</li>" for n in summary.notes)
    return (
        f"<section id=\"drift\"><h2>Data drift against the baseline</h2>{verdict}"
        f"<p>{summary.rows} rows from <code>{escape(summary.source)}</code>. Thresholds: PSI &gt; {t.psi:g}, "
        f"KS distance &gt; {t.ks_distance:g}, missing rate above the baseline's by more than {t.missing_increase:g}, "
        f"more than {t.out_of_range:.0%} out of the schema's range.</p>"
        "<table><tr><th>column</th><th>kind</th><th>values</th><th>PSI</th><th>KS D</th><th>KS p</th>"
        "<th>missing</th><th>baseline missing</th><th>out of range</th><th>status</th></tr>"
        f"{rows}</table><h3>Distributions</h3><div class=\"plots\">{plots}</div>{over_time}"
        f"<ul class=\"notes\">{notes}</ul></section>")


def _accuracy_section(summary: AccuracySummary) -> str:
    from model import report_plots

    verdict = ('<p class="verdict bad">Accuracy degraded</p>' if summary.degraded
               else '<p class="verdict good">Accuracy within tolerance</p>')
    head = "".join(f"<th>{m.upper()}</th>" for m in METRICS)

    def row(label: str, rows: int | str, metrics: dict[str, float | None] | dict[str, float], status: str) -> str:
        cells = "".join(f"<td>{_num(metrics.get(m), '.4g')}</td>" for m in METRICS)
        return f"<tr><td>{escape(label)}</td><td>{rows}</td>{cells}<td class=\"reasons\">{escape(status)}</td></tr>"

    body = [row("bundle (held-out)", "", summary.reference, "reference")]
    for w in summary.windows:
        status = "; ".join(w.reasons) or ("ok" if w.judged else f"fewer than {summary.min_rows} rows: not judged")
        body.append(row(f"{w.start} .. {w.end}", w.rows, w.metrics, status))
    body.append(row("all", summary.matched, summary.overall, "; ".join(summary.overall_reasons) or "ok"))
    plots = ""
    if summary.windows:
        plots = "<div class=\"plots\">" + "".join(
            _figure(report_plots.accuracy_over_time(summary, m), f"accuracy-over-time:{m}",
                    f"{m.upper()} per {summary.window_unit}") for m in ("rmse", "mae")) + "</div>"
    counts = "".join(f"<li>{escape(k)}: {v}</li>" for k, v in summary.counts.items())
    return (f"<section id=\"accuracy\"><h2>Accuracy against delayed labels</h2>{verdict}"
            f"<p>{summary.matched} captured predictions joined to labels; tolerance {summary.tolerance:g} "
            "(error metrics: bundle &times; (1 + tolerance); R2: bundle &minus; tolerance).</p>"
            f"<table><tr><th>window</th><th>rows</th>{head}<th>status</th></tr>{''.join(body)}</table>"
            f"{plots}<h3>Rows and labels not used</h3><ul class=\"notes\">{counts}</ul></section>")


@dataclass(frozen=True)
class Comparison:
    """Two models' metrics on the same rows, side by side (retrain's champion and challenger)."""

    heading: str
    names: tuple[str, str]
    metrics: tuple[Mapping[str, float], Mapping[str, float]]
    deciding: str  # the metric the decision rests on
    decision: str
    good: bool


def _comparison_section(c: Comparison) -> str:
    rows = []
    for m in METRICS:
        deciding = m == c.deciding
        css = "drift" if deciding and not c.good else "ok"
        rows.append(f'<tr class="{css}"><td>{escape(m)}{" (decides)" if deciding else ""}</td>'
                    f"<td>{_num(c.metrics[0].get(m), '.6g')}</td><td>{_num(c.metrics[1].get(m), '.6g')}</td></tr>")
    verdict = "good" if c.good else "bad"
    return (f'<section id="comparison"><h2>{escape(c.heading)}</h2>'
            f'<p class="verdict {verdict}">{escape(c.decision)}</p>'
            f"<table><tr><th>metric</th><th>{escape(c.names[0])}</th><th>{escape(c.names[1])}</th></tr>"
            f"{''.join(rows)}</table></section>")


def render(title: str, drift: DriftSummary | None, accuracy: AccuracySummary | None,
           comparison: Comparison | None = None) -> str:
    sections = "".join(s for s in (
        _comparison_section(comparison) if comparison else "", _accuracy_section(accuracy) if accuracy else "",
        _drift_section(drift) if drift else "") if s)
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{escape(title)}</h1>"
            f"<p class=\"notes\">Made by modelstage at {made}.</p>{sections}</body></html>")


def _write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, so a report is never half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report is as readable as any file the user writes
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_html(path: Path, title: str, *, drift: DriftSummary | None = None,
               accuracy: AccuracySummary | None = None, comparison: Comparison | None = None) -> None:
    if path.is_dir():
        raise ModelstageError(f"{path}: is a folder; expected a file name for the report")
    _write_atomic(path, render(title, drift, accuracy, comparison))


def write_reports(title: str, json_path: Path | None, html_path: Path | None, *,
                  drift: DriftSummary | None = None, accuracy: AccuracySummary | None = None) -> None:
    for path in (json_path, html_path):
        if path is not None and path.is_dir():
            raise ModelstageError(f"{path}: is a folder; expected a file name for the report")
    if json_path is not None:
        doc: dict[str, Any] = {}
        if drift is not None:
            doc["drift"] = drift.to_dict()
        if accuracy is not None:
            doc["accuracy"] = accuracy.to_dict()
        _write_atomic(json_path, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    if html_path is not None:
        _write_atomic(html_path, render(title, drift, accuracy))
