"""New labelled data for `modelstage retrain`: a CSV or Parquet file read into (X, y), and its holdout split."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model.challenger import RetrainError
from model.dataset import Dataset
from model.train import SEED, split

HOLDOUT_FRACTION = 0.2  # as model/train.py
MIN_HOLDOUT_ROWS = 20  # fewer and one row decides the comparison
MIN_ROWS = int(np.ceil(MIN_HOLDOUT_ROWS / HOLDOUT_FRACTION))


def _read_arrow(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise RetrainError(f"{path}: no such data file")
    if path.stat().st_size == 0:
        raise RetrainError(f"{path}: the file is empty; expected a header line and labelled rows")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pcsv.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise RetrainError(f"{path}: not a readable {suffix[1:]} file ({first})") from None
    raise RetrainError(f"{path}: unknown data format {path.suffix!r}; expected .csv or .parquet")


def _numbers(column: Any, name: str, path: Path) -> np.ndarray:
    """Floats with NaN for missing cells; any other value is refused, naming its row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    if pa.types.is_null(t):
        return np.full(len(column), np.nan)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    out = np.full(len(column), np.nan)
    for i, value in enumerate(column.to_pylist()):
        if value is None:
            continue
        try:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ValueError
            out[i] = float(value)  # a string column whose every cell is a number (Parquet written as text)
        except ValueError:
            raise RetrainError(f"{path}, data row {i + 1}, column {name!r}: expected a number, got "
                               f"{str(value)[:40]!r} (the column reads as {t})") from None
    return out


def read_labelled(path: Path, features: Sequence[str], target: str) -> tuple[np.ndarray, np.ndarray]:
    """The feature columns (in `features`' order) and the target of a CSV or Parquet file."""
    table = _read_arrow(path)
    present = list(table.column_names)
    missing = [n for n in features if n not in present]
    if missing:
        raise RetrainError(f"{path}: missing feature column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                           f"it has {', '.join(present[:20]) or 'none'}")
    if target not in present:
        raise RetrainError(f"{path}: no target column {target!r} (pass --target NAME); it has "
                           f"{', '.join(present[:20]) or 'none'}")
    if table.num_rows == 0:
        raise RetrainError(f"{path}: no rows, only a header; expected labelled rows")
    X = np.column_stack([_numbers(table.column(n), n, path) for n in features])
    y = _numbers(table.column(target), target, path)
    unlabelled = np.flatnonzero(~np.isfinite(y))
    if unlabelled.size:
        raise RetrainError(f"{path}: {unlabelled.size} rows have no finite {target!r} (the first is data row "
                           f"{unlabelled[0] + 1}); every row needs a label")
    return X, y


def holdout_split(X: np.ndarray, y: np.ndarray, names: Sequence[str], source: Path,
                  seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """-> X_train, X_holdout, y_train, y_holdout: the seeded 80/20 split of model/train.py."""
    if len(y) < MIN_ROWS:
        raise RetrainError(f"{source}: {len(y)} rows are too few; the {HOLDOUT_FRACTION:.0%} holdout needs at least "
                           f"{MIN_HOLDOUT_ROWS} rows, so at least {MIN_ROWS} rows")
    X_train, X_holdout, y_train, y_holdout = split(Dataset(X=X, y=y), test_fraction=HOLDOUT_FRACTION, seed=seed)
    empty = [n for i, n in enumerate(names) if not np.isfinite(X_train[:, i]).any()]
    if empty:
        raise RetrainError(f"{source}: feature {empty[0]!r} has no values in the training rows")
    return X_train, X_holdout, y_train, y_holdout
