"""Drift of recent inputs against a bundle's baseline: PSI per feature."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.baseline import psi
from model.bundle import Bundle
from model.errors import ModelstageError


@dataclass(frozen=True)
class DriftReport:
    rows: int
    threshold: float
    scores: dict[str, float]

    @property
    def drifted(self) -> list[str]:
        return [name for name, score in self.scores.items() if score > self.threshold]

    def render(self) -> str:
        lines = [f"{'feature':<24} {'PSI':>8}  status", "-" * 42]
        for name, score in self.scores.items():
            lines.append(f"{name:<24} {score:>8.4f}  {'DRIFT' if score > self.threshold else 'ok'}")
        verdict = f"drift in {', '.join(self.drifted)}" if self.drifted else "no drift"
        lines.append(f"{self.rows} rows compared; PSI threshold {self.threshold}: {verdict}")
        return "\n".join(lines)


def read_feature_csv(path: Path, names: Sequence[str]) -> np.ndarray:
    """Columns named in `names` from a CSV with a header; empty cells are missing (NaN)."""
    if not path.is_file():
        raise ModelstageError(f"{path}: no such file")
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if len(lines) < 2:
        raise ModelstageError(f"{path}: expected a header line and at least one row")
    header = [h.strip() for h in lines[0].split(",")]
    missing = [n for n in names if n not in header]
    if missing:
        raise ModelstageError(f"{path}: missing columns {missing}; the header has {header}")
    cols = [header.index(n) for n in names]
    out = np.full((len(lines) - 1, len(names)), np.nan)
    for r, line in enumerate(lines[1:]):
        cells = line.split(",")
        for j, c in enumerate(cols):
            text = cells[c].strip() if c < len(cells) else ""
            if text:
                try:
                    out[r, j] = float(text)
                except ValueError:
                    raise ModelstageError(f"{path}, line {r + 2}, column {names[j]!r}: expected a number, "
                                          f"got {text[:40]!r}") from None
    return out


def drift_report(bundle: Bundle, X: np.ndarray, threshold: float = 0.2) -> DriftReport:
    scores = {b.name: round(psi(b, X[:, i]), 6) for i, b in enumerate(bundle.baselines)}
    return DriftReport(rows=len(X), threshold=threshold, scores=scores)
