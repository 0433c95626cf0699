"""A strict reader of the Prometheus text exposition format (version 0.0.4), for tests.

prometheus_client is not a dependency; this checks what its parser and Prometheus's own require
(https://prometheus.io/docs/instrumenting/exposition_formats/), and more: one TYPE and HELP per family
before its samples, each family's samples together, no repeated series, histogram buckets ascending
and cumulative with `+Inf` equal to `_count`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_VALUE = r"[+-]?(?:Inf|NaN|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{((?:{_LABEL})(?:,{_LABEL})*)?,?\}})? ({_VALUE})(?: -?\d+)?$")
_LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
_HELP = re.compile(rf"^# HELP ({_NAME}) (.*)$")
_TYPE = re.compile(rf"^# TYPE ({_NAME}) (counter|gauge|histogram|summary|untyped)$")
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}

Labels = tuple[tuple[str, str], ...]


@dataclass
class Family:
    name: str
    type: str = "untyped"
    help: str | None = None
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def value(self, name: str | None = None, **labels: str) -> float:
        found = [v for n, ls, v in self.samples if n == (name or self.name) and ls == labels]
        assert len(found) == 1, f"{name or self.name}{labels}: {len(found)} samples"
        return found[0]


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def _float(text: str) -> float:
    return float(text.replace("Inf", "inf"))


def _family_of(sample: str, families: dict[str, Family]) -> str:
    for fam in families.values():
        if sample == fam.name or sample in (fam.name + s for s in _SUFFIXES.get(fam.type, ())):
            return fam.name
    return sample


def parse(text: str) -> dict[str, Family]:
    """Families by name; AssertionError naming the line for anything the format does not allow."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    families: dict[str, Family] = {}
    done: set[str] = set()  # families whose samples have ended
    seen: set[tuple[str, Labels]] = set()
    current: str | None = None
    for number, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {number}: {line!r}"
        if line.startswith("#"):
            help_, type_ = _HELP.match(line), _TYPE.match(line)
            match = help_ or type_
            assert match is not None or not line.startswith(("# HELP", "# TYPE")), where
            if match is None:
                continue  # a plain comment
            name = match.group(1)
            fam = families.setdefault(name, Family(name))
            assert not fam.samples and name not in done, f"{where}: after the family's samples"
            if type_:
                assert fam.type == "untyped", f"{where}: a second TYPE"
                fam.type = type_.group(2)
            else:
                assert fam.help is None, f"{where}: a second HELP"
                fam.help = match.group(2)
            continue
        sample = _SAMPLE.match(line)
        assert sample is not None, where
        name, raw_labels, raw_value = sample.groups()
        pairs = _LABEL_PAIR.findall(raw_labels or "")
        labels = {k: _unescape(v) for k, v in pairs}
        assert len(labels) == len(pairs), f"{where}: a repeated label"
        family = _family_of(name, families)
        if family != current:
            assert family not in done, f"{where}: the family's samples are not together"
            if current is not None:
                done.add(current)
            current = family
        key = (name, tuple(sorted(labels.items())))
        assert key not in seen, f"{where}: a repeated series"
        seen.add(key)
        families.setdefault(family, Family(family)).samples.append((name, labels, _float(raw_value)))
    for fam in families.values():
        if fam.type == "histogram":
            _check_histogram(fam)
    return families


def _check_histogram(fam: Family) -> None:
    series: dict[Labels, list[tuple[float, float]]] = {}
    counts: dict[Labels, float] = {}
    for name, labels, value in fam.samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        if name == fam.name + "_bucket":
            assert "le" in labels, f"{fam.name}: a bucket without le"
            series.setdefault(rest, []).append((_float(labels["le"].replace("+Inf", "Inf")), value))
        elif name == fam.name + "_count":
            counts[rest] = value
        else:
            assert name == fam.name + "_sum", f"{fam.name}: unexpected sample {name}"
    assert series.keys() == counts.keys(), f"{fam.name}: buckets and _count differ in series"
    for rest, buckets in series.items():
        bounds = [b for b, _ in buckets]
        assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds), f"{fam.name}{rest}: le not ascending"
        assert bounds[-1] == math.inf, f"{fam.name}{rest}: no +Inf bucket"
        values = [v for _, v in buckets]
        assert values == sorted(values), f"{fam.name}{rest}: buckets are not cumulative"
        assert values[-1] == counts[rest], f"{fam.name}{rest}: +Inf bucket != _count"
