"""Every stored format's version, schema and migrations, in one place.

=========  =======  ===========================================  ======================
kind       version  file                                         written by
=========  =======  ===========================================  ======================
baseline   3        ``baselines/<slug>/<workload-key>.json``     :mod:`bf16perf.store.baselines`
noise      1        ``baselines/<slug>/<workload-key>.noise.json``  :mod:`bf16perf.store.baselines`
history    2        ``reports/history.jsonl``, one line each     :mod:`bf16perf.report`
session    1        ``<calibrate --state>/sessions/NNN.json``    :mod:`bf16perf.calibration.noise`
report     1        ``reports/<stamp>/report.json``              :mod:`bf16perf.report`
verdicts   1        printed (``summary``, ``compare --format``)  :mod:`bf16perf.console`
=========  =======  ===========================================  ======================

Version history:

- baseline 1: one run (``benchmarks[0]``); 2: one ``benchmarks`` entry per run; 3: the last
  K sessions (``sessions``, oldest first: save time, versions and cluster shape in
  ``metadata``, runs in ``benchmarks``), the last also as the top-level ``benchmarks``.
  Versions 1 and 2 are migrated in memory (:func:`migrate_baseline`), never rewritten.
- noise 1: the between-run spread (``sigma``, ``df``) and, after ``bf16perf calibrate``, the
  between-session spread (``session_sigma``, ``session_df``).
- history 1 (no ``schema_version``): one median per variant; 2: run figures per workload key
  (``series``), versions and labels.
- session 1: one A/A calibration session's run figures and what disturbed it.
- report 1: ``report.json``.

Each kind's JSON Schema is ``bf16perf/store/schemas/<kind>.schema.json`` (package data; the
report's is published and tested against real reports, the others are what every reader
relies on, tested against the writers' own output).  :func:`problem` checks a document
against it and words the first problem in one line: the field, what was expected, what was
found.  Numbers a reader computes with must be finite (the schemas' ``finite`` keyword): a
``NaN`` figure is refused where it is read, not where it poisons a verdict.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "BASELINE_VERSION",
    "HISTORY_VERSION",
    "NOISE_VERSION",
    "REPORT_VERSION",
    "SESSION_VERSION",
    "FormatError",
    "Kind",
    "loads",
    "migrate_baseline",
    "problem",
    "schema",
    "versioned",
]

BASELINE_VERSION = 3
NOISE_VERSION = 1
HISTORY_VERSION = 2
SESSION_VERSION = 1
REPORT_VERSION = 1

#: Where baseline and noise files are kept unless ``--perf-baselines`` (or a command's
#: ``--baselines``) says otherwise: one default for both front ends.
DEFAULT_BASELINES = Path("baselines")

Kind = Literal["baseline", "noise", "history", "session", "report", "verdicts"]

#: The longest repr of a found value quoted in a problem (a huge value stays one line).
_SHOWN = 60


_VERSIONS: dict[str, int] = {
    "baseline": BASELINE_VERSION,
    "noise": NOISE_VERSION,
    "history": HISTORY_VERSION,
    "session": SESSION_VERSION,
    "report": REPORT_VERSION,
    "verdicts": 1,
}


def versioned(kind: Kind, document: dict[str, Any]) -> dict[str, Any]:
    """A new ``kind`` document: its current schema version first, then ``document``'s
    fields; the one place a version is written."""
    return {"schema_version": _VERSIONS[kind], **document}


class FormatError(ValueError):
    """A stored document that does not follow its format; the message is one line."""


#: The most digits of a stored integer: every one a reader computes with must fit a float
#: (below 1.8e308), and Python's own limit (4,300 digits) would raise mid-parse.
MAX_DIGITS = 308


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise FormatError(f"an integer of {len(text)} digits (at most {MAX_DIGITS})")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise FormatError(f"the number {text[:_SHOWN]} is beyond a float")
    return value


def _constant(name: str) -> Any:
    raise FormatError(f"{name} is not a number a stored document may hold")


def loads(text: str) -> Any:
    """Parse a stored document strictly: JSON whose every number is a finite float or an
    integer of at most :data:`MAX_DIGITS` digits (no ``NaN``, ``Infinity``, ``1e999``).
    Raises :class:`ValueError` (``json.JSONDecodeError`` or :class:`FormatError`) with a
    one-line message."""
    return json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)


@cache
def schema(kind: Kind) -> dict[str, Any]:
    """The JSON Schema of ``kind`` (package data)."""
    text = resources.files("bf16perf.store").joinpath(f"schemas/{kind}.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator(kind: Kind) -> Any:
    from jsonschema import validators

    def finite(_validator: Any, wanted: bool, instance: Any, _schema: Any) -> Iterator[Any]:
        from jsonschema.exceptions import ValidationError

        if wanted and isinstance(instance, float) and not math.isfinite(instance):
            yield ValidationError(f"expected a finite number, got {instance!r}")

    base = validators.validator_for(schema(kind))
    checker = base.TYPE_CHECKER.redefine_many(
        {  # a bool is not a number, whatever Python says
            "number": lambda _c, x: isinstance(x, int | float) and not isinstance(x, bool),
            "integer": lambda _c, x: isinstance(x, int) and not isinstance(x, bool),
        }
    )
    extended = validators.extend(base, {"finite": finite}, type_checker=checker)
    return extended(schema(kind))


_EXPECTED = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "null": "null",
}


def _field(path: Iterator[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "(the document)"


def _expected(error: Any) -> str:
    """What the schema wanted, in words."""
    if error.validator == "type":
        wanted = error.validator_value
        names = [wanted] if isinstance(wanted, str) else list(wanted)
        return " or ".join(_EXPECTED.get(n, n) for n in names)
    if error.validator in ("exclusiveMinimum", "minimum"):
        strict = error.validator == "exclusiveMinimum"
        return f"a number {'>' if strict else '>='} {error.validator_value}"
    if error.validator == "minItems":
        return f"at least {error.validator_value} item(s)"
    if error.validator in ("const", "enum"):
        values = [error.validator_value] if error.validator == "const" else error.validator_value
        return "one of " + ", ".join(json.dumps(v) for v in values)
    return str(error.message)


def problem(kind: Kind, doc: Any) -> str | None:
    """The first way ``doc`` breaks the ``kind`` format, in one line (``field X: expected Y,
    got Z``), or ``None`` when it follows it."""
    from jsonschema.exceptions import best_match

    try:
        error = best_match(_validator(kind).iter_errors(doc))
    except RecursionError:
        return "nested too deep to check"
    if error is None:
        return None
    path = list(error.absolute_path)
    where = _field(iter(path))
    if error.validator == "required":
        missing = next(n for n in error.validator_value if n not in error.instance)
        return f"missing field {_field(iter([*path, missing]))}"
    found = repr(error.instance)
    if len(found) > _SHOWN:
        found = found[: _SHOWN - 3] + "..."
    if error.validator == "finite":
        return f"field {where}: {error.message}"
    return f"field {where}: expected {_expected(error)}, got {found}"


def _baseline_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had one run in ``benchmarks[0]``; version 2 has one entry per run."""
    return {**data, "schema_version": 2, "upgraded_from": 1}


def _baseline_2_to_3(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 was one session: it becomes the only entry of ``sessions``."""
    info = data.get("machine_info")
    session = {
        "saved_at": data.get("datetime", ""),
        "metadata": info.get("bf16perf_metadata", {}) if isinstance(info, dict) else {},
        "benchmarks": data.get("benchmarks", []),
    }
    return {**data, "schema_version": 3, "sessions": [session]}


_BASELINE_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _baseline_1_to_2,
    2: _baseline_2_to_3,
}


def migrate_baseline(data: dict[str, Any]) -> dict[str, Any]:
    """A baseline document of any version this bf16perf reads, as the current version (in
    memory only: the file is never rewritten), with ``upgraded_from`` where it was older;
    then checked against the schema.  Raises :class:`FormatError` in one line."""
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise FormatError(f"field schema_version: expected a whole number, got {version!r:.60}")
    if version > BASELINE_VERSION:
        raise FormatError(
            f"schema_version {version} is newer than this bf16perf reads ({BASELINE_VERSION});"
            " upgrade bf16perf"
        )
    if version < 1:
        raise FormatError(f"schema_version {version} is unknown")
    while data["schema_version"] < BASELINE_VERSION:
        data = _BASELINE_MIGRATIONS[data["schema_version"]](data)
    if version < BASELINE_VERSION:
        data["upgraded_from"] = version
    wrong = problem("baseline", data)
    if wrong:
        raise FormatError(wrong)
    return data
