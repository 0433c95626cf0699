"""`modelstage retrain`: champion/challenger on new labelled data (model/retrain.py), then how to roll it out."""

from __future__ import annotations

import shlex
from pathlib import Path

from model.retrain import RetrainResult, render, retrain

STACK_PLACEHOLDER = "<stack>"


def default_report_path(out: Path) -> Path:
    return out.resolve().parent / "retrain-report.json"


def _shown(path: Path) -> str:
    """Relative to here when below it: Pulumi's bundlePath is relative to the project root."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(resolved)


def rollout_commands(bundle_path: Path, stack: str | None) -> list[str]:
    target = shlex.quote(stack) if stack else STACK_PLACEHOLDER
    return [f"pulumi config set modelstage:bundlePath {shlex.quote(_shown(bundle_path))} --stack {target}",
            f"pulumi preview --stack {target}"]


def summary(result: RetrainResult, report: Path | None, stack: str | None) -> list[str]:
    lines = [render(result), ""]
    if result.identical:
        lines.append("nothing written: retraining gave the current model again (pass --version to write it anyway)")
    elif result.written is None:
        lines.append("nothing written: the current bundle stays in service (--force writes the challenger anyway)")
    else:
        note = " although it was refused (--force)" if result.forced else ""
        lines.append(f"wrote {result.written.name}@{result.written.version} to {result.written.path}{note}")
        if result.bundle.signed and not result.written.signed:
            lines.append("note: the current bundle is signed and the new one is not; pass --sign-key KEY.pem")
    if report is not None:
        lines.append(f"comparison report: {report} and {report.with_suffix('.html')}")
    if result.written is not None:
        lines.append("roll it out with:")
        lines += [f"  {c}" for c in rollout_commands(result.written.path, stack)]
    return lines


def write_comparison_html(result: RetrainResult, path: Path) -> None:
    """The comparison as a page: metrics side by side, then the new data's drift with its plots."""
    from model.report_html import Comparison, write_html

    champion = f"champion {result.bundle.name}@{result.bundle.version}"
    comparison = Comparison(
        heading=f"Champion and challenger on the same holdout ({result.report['data']['holdout_rows']} rows)",
        names=(champion, "challenger"), metrics=(result.champion, result.challenger), deciding=result.rule.metric,
        decision=f"{result.rule.text()}: {result.decision}", good=result.accepted)
    write_html(path, f"Retraining {result.bundle.name}", drift=result.drift, comparison=comparison)


def retrain_cmd(bundle: Path, data: Path, out: Path, *, target: str | None, tolerance: float, force: bool,
                model: Path | None, version: str | None, metric: str | None, report: str | None,
                stack: str | None, sign_key: Path | None) -> int:
    """Exit 0 when a new bundle was written, 1 when the challenger was refused (nothing written).
    `report`: the JSON report's path; None: next to --out; "-": none."""
    report_path = default_report_path(out) if report is None else None if report == "-" else Path(report)
    result = retrain(bundle, data, out, target=target, tolerance=tolerance, force=force, model_file=model,
                     version=version, metric=metric, report_path=report_path, sign_key=sign_key)
    if report_path is not None:
        write_comparison_html(result, report_path.with_suffix(".html"))
    print("\n".join(summary(result, report_path, stack)))
    return 0 if result.written is not None else 1
