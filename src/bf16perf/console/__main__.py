"""``python -m bf16perf.console``: the ``bf16perf`` command."""

from bf16perf.console import main

raise SystemExit(main())
