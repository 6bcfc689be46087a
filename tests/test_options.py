"""The option table: every flag fills a real field, and every field has its flag."""

import dataclasses

from bf16perf.cli import OPTIONS
from bf16perf.options import PerfOptions
from bf16perf.workload.config import TrainConfig

# fields derived from several inputs (ini defaults, the profile), not filled by one flag
DERIVED = {"train", "require_bf16", "min_bf16_speedup", "baseline_sessions"}


def test_every_flag_fills_a_field_and_every_field_has_a_flag() -> None:
    perf_fields = {f.name for f in dataclasses.fields(PerfOptions)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    filled = {o.fills for o in OPTIONS if o.fills}
    assert filled <= perf_fields, filled - perf_fields
    assert {o.train for o in OPTIONS if o.train} <= train_fields
    assert perf_fields - filled == DERIVED
    for option in OPTIONS:
        assert option.flag.startswith("--") and option.help, option
        assert not (option.fills and option.train), option  # one destination each
        assert not option.negate or option.flag.startswith("--perf-no-"), option


def test_flags_are_unique() -> None:
    flags = [o.flag for o in OPTIONS]
    assert len(flags) == len(set(flags))
