"""A perf session without pytest: the option table and the settings it builds, the inputs
checked, the machine, the training runs, what each perf test checks, and the session's end
(report, exit code). ``import bf16perf.session`` loads no pytest.
"""
