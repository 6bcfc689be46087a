"""The pytest plugin (entry point ``pytest11: bf16perf``): options, hooks and the session state.

It is thin on purpose.  Options are parsed by :mod:`bf16perf.session.options`; the machine is
described by :mod:`bf16perf.machine.host`; the state of one perf session lives in a
:class:`PerfSession` kept in ``config.stash``.  The plugin is loaded by every pytest run in
the environment but stays passive until a perf test tree activates it (``perf/conftest.py``
calls :func:`activate`), so the harness's own unit tests pay nothing for it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest

from bf16perf.machine.cpu import DEFAULT_CPUINFO, CpuInfoError, read_cpuinfo, resolve_cpuinfo_path
from bf16perf.machine.host import detect_machine, machine_fingerprint
from bf16perf.machine.lock import LockError, MachineLock
from bf16perf.machine.pinning import PlanError
from bf16perf.onednn.capture import run_probe
from bf16perf.onednn.decomposition import summary_lines
from bf16perf.onednn.kernels import KernelSummary, ProbeError
from bf16perf.plugin.options import addoptions, options_from_config
from bf16perf.report.inert import inert
from bf16perf.session import finish, inputs
from bf16perf.session.options import PerfOptions
from bf16perf.session.state import PerfSession, VerdictsFailed
from bf16perf.verdicts.outcomes import ExitCode, exit_code_for, format_table

__all__ = ["PerfSession", "activate", "is_active", "perf_session"]


_SESSION = pytest.StashKey[PerfSession]()
_OPTIONS = pytest.StashKey[PerfOptions]()


def pytest_addoption(parser: pytest.Parser) -> None:
    addoptions(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    _options(config)
    config.addinivalue_line("markers", "bf16: the test needs bf16 hardware (skipped without it)")
    config.addinivalue_line("markers", "amx: the test needs AMX (skipped without it)")
    config.addinivalue_line(
        "markers",
        "perf_verdict: the test makes a verdict that can fail the session (exit 10); it"
        " takes a share of the session's error budget (--perf-alpha)",
    )


@contextmanager
def _verdicts_fail_the_test() -> Iterator[None]:
    """A test whose recorded verdicts failed (:class:`VerdictsFailed`, raised by the
    pytest-free session core) fails with their words, not a traceback."""
    try:
        yield
    except VerdictsFailed as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:  # --perf-require-bf16 fails in setup
    with _verdicts_fail_the_test():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    with _verdicts_fail_the_test():
        return (yield)


def _options(config: pytest.Config) -> PerfOptions:
    if _OPTIONS not in config.stash:
        options = options_from_config(config)
        if config.getoption("collectonly"):  # measures nothing: no report, no JUnit XML
            options = replace(options, report=False)
        config.stash[_OPTIONS] = options
    return config.stash[_OPTIONS]


def _probe(
    options: PerfOptions,
) -> tuple[MachineLock | None, KernelSummary | None, str | None, float | None]:
    """The machine lock and the kernel probe under it (the probe is CPU work: never beside
    another session's measurement): the lock, the probe's summary or why it failed, and
    its seconds; nothing where ``--perf-no-probe``."""
    if not options.probe:
        return None, None, None, None
    lock = MachineLock(None, options.lock_timeout_s)
    try:
        lock.acquire()
    except LockError as exc:
        raise pytest.UsageError(str(exc)) from None
    t0 = time.monotonic()
    try:
        return lock, run_probe(), None, time.monotonic() - t0
    except ProbeError as exc:
        return lock, None, str(exc), time.monotonic() - t0


def activate(config: pytest.Config) -> PerfSession:
    """Start the perf session: check every input, take the machine lock, run the kernel
    probe, keep the state.

    Inputs are checked first, in about a second, before any wait: option values, the
    baseline store, the cpuinfo file, Java and the reference stack.  Each bad one is a
    one-line :class:`pytest.UsageError` (exit code 4) naming the input and the fix.
    """
    if _SESSION in config.stash:
        return config.stash[_SESSION]
    options = _options(config)
    if options.order_seed is None:  # each session its own pair orders, recorded
        import secrets

        options = replace(options, order_seed=secrets.randbelow(2**31))
        config.stash[_OPTIONS] = options
    measuring = not config.getoption("collectonly")
    path = resolve_cpuinfo_path(str(options.cpuinfo) if options.cpuinfo else None)
    try:
        cpu = read_cpuinfo(path)
    except CpuInfoError as exc:
        raise pytest.UsageError(str(exc)) from None
    fingerprint = machine_fingerprint(cpu, path != DEFAULT_CPUINFO)
    try:
        workloads = inputs.workloads(options)  # the tests are parametrized by them
        reference = inputs.checked(options, fingerprint, workloads) if measuring else None
    except inputs.InputError as exc:
        raise pytest.UsageError(str(exc)) from None
    lock, probe, probe_error, probe_s = _probe(options) if measuring else (None,) * 4
    machine = detect_machine(
        path, cpu=cpu, fingerprint=fingerprint, probe=probe, probe_error=probe_error
    )
    session = PerfSession(
        options=options, machine=machine, lock=lock, reference=reference, workloads=workloads
    )
    if probe_s is not None:
        session.phases.add("kernel probe", probe_s)
    config.stash[_SESSION] = session
    if options.report and measuring and not getattr(config.option, "xmlpath", None):
        # pytest's own JUnit XML, into the report directory (needs activation before the
        # junitxml plugin configures: perf/conftest.py's hook is tryfirst)
        try:
            config.option.xmlpath = str(session.report_dir / "junit.xml")
        except OSError as exc:
            raise pytest.UsageError(
                f"--perf-reports {options.reports_dir}: cannot make this session's report"
                f" directory there ({exc}); give a writable directory, or --perf-no-report"
            ) from None
    return session


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    if session is not None and session.lock is not None:
        session.lock.release()


def is_active(config: pytest.Config) -> bool:
    """Whether a perf tree activated the session (``tests/`` does not)."""
    return _SESSION in config.stash


def perf_session(config: pytest.Config) -> PerfSession:
    """The active session; a clear error where no perf tree activated the plugin."""
    try:
        return config.stash[_SESSION]
    except KeyError:
        raise pytest.UsageError(
            "bf16perf is not active: perf fixtures need a perf/conftest.py that calls"
            " bf16perf.plugin.hooks.activate(config) in pytest_configure"
        ) from None


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if _SESSION not in config.stash:
        return None
    session = config.stash[_SESSION]
    options = session.options
    if options.spark_master:
        cluster = (
            f"bf16perf cluster: external {options.spark_master}, {options.workers or 1}"
            " executor(s): pinning is the cluster's business"
        )
    else:
        try:
            plan = options.cluster_request().local_plan().describe()
        except PlanError as exc:
            plan = f"no plan: {exc}"
        cluster = f"bf16perf cluster: local standalone on 127.0.0.1, {plan}"
    lines = [*session.machine.header_lines(), cluster]
    if session.reference is not None:
        ref = ", ".join(f"{k} {v}" for k, v in session.reference.items())
        mode = (
            f"paired nightly against reference {options.reference_name}"
            if options.paired
            else "A/B"
        )
        lines.append(
            f"bf16perf {mode}: {options.pairs} pairs per variant against the reference stack"
            f" ({ref}); candidate: this environment; pair orders seeded {options.order_seed}"
        )
    return [*lines, *finish.duration_lines(session)]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    config = terminalreporter.config
    if _SESSION not in config.stash:
        return
    session = config.stash[_SESSION]
    if not session.notices and not session.decisions:
        return
    terminalreporter.section("bf16perf")
    for line in session.notices:  # they quote stored strings: shown, never obeyed
        terminalreporter.write_line(inert(line))
    mine = [r for r, _ in session.runs if r.stack != "reference"]
    for line in summary_lines(
        [(r.label, r.step_times_s, r.kernels, r.step_parts) for r in mine],
        bf16_allreduce=any(r.config.reduces_in_bf16 for r in mine),
    ):
        terminalreporter.write_line(line)
    if session.decisions:
        terminalreporter.write_line("")
        for line in format_table(session.decisions):
            terminalreporter.write_line(inert(line))
    for line in finish.duration_lines(session, end=True):
        terminalreporter.write_line(line)
    code = _exit_code(config, terminalreporter.stats)
    if code is not ExitCode.OK:
        terminalreporter.write_line(f"bf16perf verdict: exit code {int(code)} ({code.name})")


def _exit_code(config: pytest.Config, stats: dict[str, list[object]]) -> ExitCode:
    session = config.stash[_SESSION]
    failed_ids = {
        getattr(r, "nodeid", "") for key in ("failed", "error") for r in stats.get(key, [])
    }
    return exit_code_for(session.decisions, failed_ids)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _SESSION not in config.stash:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    stats = reporter.stats if reporter is not None else {}
    perf = config.stash[_SESSION]
    # the report's figures are made once; its verdicts and exit code are filled in below
    report = finish.build(perf, int(session.exitstatus)) if perf.options.report else None
    if report is not None and exitstatus in (0, 1) and perf.options.trend_confirm:
        finish.judge_trend(perf, report)  # its verdict counts in the exit code
    perf.adjust()
    if exitstatus in (0, 1):  # interrupted, usage or internal errors keep pytest's code
        code = _exit_code(config, stats)
        if code is not ExitCode.OK:
            session.exitstatus = int(code)
    if report is not None:  # an interrupted run still reports what it measured
        _write_report(perf, session, stats, report)


def _stopped_because(session: pytest.Session, stats: dict[str, list[Any]]) -> str | None:
    if session.shouldstop or session.exitstatus == pytest.ExitCode.INTERRUPTED:
        return f"interrupted ({session.shouldstop or 'Ctrl-C or SIGTERM'})"
    failed = [r for key in ("failed", "error") for r in stats.get(key, [])]
    if failed:
        first = failed[0]
        text = str(getattr(first, "longreprtext", "") or "").strip().splitlines()
        return f"{len(failed)} test(s) failed; first: {first.nodeid}: {text[-1] if text else ''}"
    return None


def _write_report(
    perf: PerfSession,
    session: pytest.Session,
    stats: dict[str, list[Any]],
    report: dict[str, Any],
) -> None:
    path, seconds = finish.write(
        perf, report, int(session.exitstatus), _stopped_because(session, stats)
    )
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and path is not None:
        reporter.write_line(f"bf16perf report: {path / 'report.html'} ({seconds:.1f} s)")
