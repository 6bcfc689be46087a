"""The option table: every flag fills a real field, and every field has its flag."""

import dataclasses

from bf16perf.session.flags import OPTIONS
from bf16perf.session.options import PerfOptions
from bf16perf.workloads.config import TrainConfig

# fields derived from several inputs (ini defaults, the profile), not filled by one flag
DERIVED = {"train", "require_bf16", "min_bf16_speedup", "baseline_sessions", "reference_name",
           "pairs_given"}  # fmt: skip


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
