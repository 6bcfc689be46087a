"""The end of a perf session, without pytest: its report built from what the tests handed
on, the trend over the history judged (its verdict counts in the exit code), and the report
written with the session's exit code.  The plugin calls these from its hooks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bf16perf.session.state import PerfSession

__all__ = ["build", "duration_lines", "judge_trend", "write"]


def build(perf: PerfSession, exit_code: int) -> dict[str, Any]:
    """The report's figures, made once (its verdicts and exit code are filled in by
    :func:`write`)."""
    from bf16perf.report import build_report

    return build_report(
        started=perf.started,
        machine=perf.machine,
        runs=perf.runs,
        decisions=perf.decisions,
        baselines=perf.baselines,
        cluster=perf.cluster.to_dict() if perf.cluster else {},
        gate=perf.gate.to_dict() if perf.gate else None,
        reference=perf.reference,
        exit_code=exit_code,
        stopped_because=None,
        labels=dict(perf.options.labels),
        workloads=[w.to_dict() for w in perf.workloads],
        session=session_facts(perf),
    )


def session_facts(perf: PerfSession) -> dict[str, Any]:
    """What kind of session this was, for the report and its history line: the nightly
    rules read it (an ad-hoc A/B or a self-test with an injected slowdown never confirms a
    stored drop or enters a trend; the paired nightly's series are per reference)."""
    options = perf.options
    return {
        "kind": options.session_kind,
        "reference": options.reference_name,
        "injected": options.train.inject_slowdown,
        "onednn_max_isa": options.train.onednn_max_isa,
        "order_seed": options.order_seed,
        "pairs": options.pairs if options.ab_mode else None,
        "release": options.release,
        "duration_s": round(time.time() - perf.started_at, 1),
        "phases_s": perf.phases.to_dict(),
    }


def judge_trend(perf: PerfSession, report: dict[str, Any]) -> None:
    """The history with this session's line at its end: a new lasting drop is a
    REGRESSION of the session; one slow night is a notice."""
    from bf16perf.report import past_problem, read_history
    from bf16perf.report.data import history_line
    from bf16perf.verdicts.trend import trend_decisions

    options = perf.options
    try:
        line = history_line(report, perf.report_dir)
        history = read_history(options.history_path)
        decisions, notices = trend_decisions(
            history,
            line,
            confirm=options.trend_confirm,
            alpha=perf.budget.share,
            threshold=options.max_regression,
            gating=not options.paired,
        )
    except Exception as exc:  # judging the past never stops the record
        perf.notices.append(past_problem("the trend verdict", options.history_path, exc))
        return
    perf.record(*decisions)
    perf.notices.extend(notices)


def write(
    perf: PerfSession, report: dict[str, Any], exit_code: int, stopped: str | None
) -> tuple[Path | None, float]:
    """Write the report (with the logs of a session that ``stopped`` early) and the
    history line; its directory (``None``: it could not be written, a notice says why)
    and the seconds it took."""
    from bf16perf.report import write_report
    from bf16perf.report.data import decision_dicts

    report.update(
        exit_code=exit_code,
        stopped_because=stopped,
        decisions=decision_dicts(perf.decisions),
    )
    logs = perf.logs if stopped else []
    t0 = time.monotonic()
    try:
        path: Path | None = write_report(
            perf.report_dir,
            report,
            perf.options.history_path,
            logs,
            perf.notices,
            threshold=perf.options.max_regression,
        )
    except OSError as exc:  # a full disk or a read-only place: one line, the verdict stands
        perf.notices.append(
            f"bf16perf: the report was not written to {perf.report_dir} ({exc}); free"
            " space there or give --perf-reports a writable directory"
        )
        path = None
    return path, time.monotonic() - t0


def duration_lines(perf: PerfSession, end: bool = False) -> list[str]:
    """The session's planned duration (at the start: the last session of the same kind on
    this machine, from the history) or its real one (``end``)."""
    if end:
        seconds = time.time() - perf.started_at
        took = [f"bf16perf duration: this session took {seconds / 60:.1f} min"]
        return took + perf.phases.lines(seconds)
    from bf16perf.report import read_history
    from bf16perf.store.history_line import lines_of

    options, slug = perf.options, perf.machine.fingerprint.slug
    try:
        lines = read_history(options.history_path)
    except (OSError, ValueError):
        lines = []
    for line in reversed(lines_of(lines)):
        session = line.session
        if (
            line.fingerprint == slug
            and session.known
            and session.kind == options.session_kind
            and session.reference == options.reference_name
            and line.duration_s is not None
        ):
            return [
                f"bf16perf duration: planned about {line.duration_s / 60:.1f} min, as the"
                f" last {options.session_kind} session on this machine ({line.started})"
            ]
    return [
        f"bf16perf duration: no earlier {options.session_kind} session in the history to plan by"
    ]
