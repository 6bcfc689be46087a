"""The option table: every flag fills a real field, and every field has its flag."""

import dataclasses

import pytest

from bf16perf.session.flags import OPTIONS
from bf16perf.session.options import PerfOptions
from bf16perf.workloads.config import TrainConfig

# fields derived from several inputs (ini defaults, the profile), not filled by one flag
DERIVED = {"train", "require_bf16", "min_bf16_speedup", "baseline_sessions", "reference_name",
           "pairs_given", "repeats_given"}  # fmt: skip


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


def test_every_option_has_one_default() -> None:
    """Following a value option from the table to its use meets one default: the
    PerfOptions field's, which the flag, its help line and the command's copy all show."""
    from bf16perf.session.flags import OPTIONS
    from bf16perf.session.options import PerfOptions

    defaults = PerfOptions()
    for option in OPTIONS:
        if option.parse is None or not option.fills or option.repeat:
            continue
        assert option.default is None, f"{option.flag}: a second default in the table"
        assert option.value_default == getattr(defaults, option.fills)
        if "default" in option.help and option.value_default is not None:
            # (a None default is described in words: "default: one per physical core group")
            assert "{default}" in option.help, f"{option.flag}: a literal default in its help"
            assert str(option.value_default) in option.help_text


def test_a_zero_training_value_is_a_value_not_an_absent_option(pytester: pytest.Pytester) -> None:
    """``--perf-bytes-per-pack 0`` (one all-reduce per gradient) reaches the training
    configuration: 0 is no missing option (it once was dropped as falsy)."""
    from bf16perf.plugin.options import options_from_config
    from bf16perf.workloads.config import DEFAULT_PACK

    given = pytester.parseconfig("--perf-bytes-per-pack", "0", "--perf-collective", "AUTO")
    options = options_from_config(given)
    assert options.train.bytes_per_pack == 0 and options.train.collective == "auto"
    assert options_from_config(pytester.parseconfig()).train.bytes_per_pack == DEFAULT_PACK
    key = options.train.workload_key(2, 1)
    assert key.endswith("-fp32-pack0-auto"), key


def test_bf16_avx512_runs_once_unless_the_repeats_are_given(pytester: pytest.Pytester) -> None:
    """Its steps are the session's slowest (#35, BENCHMARKS.md H3): one indicative run by
    default; --perf-repeats applies to every variant."""
    from bf16perf.plugin.options import options_from_config
    from bf16perf.workloads.config import VARIANTS

    default = options_from_config(pytester.parseconfig())
    assert default.runs_of(VARIANTS["bf16-avx512"]) == 1
    assert default.runs_of(VARIANTS["fp32"]) == default.runs_of(VARIANTS["bf16"]) == 3
    given = options_from_config(pytester.parseconfig("--perf-repeats", "2"))
    assert {given.runs_of(v) for v in VARIANTS.values()} == {2}
