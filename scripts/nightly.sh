#!/usr/bin/env bash
# Nightly bf16perf run on target hardware.
#
#   BF16PERF_STATE=/srv/bf16perf scripts/nightly.sh [extra pytest options]
#
# Keeps reports, the history and the baselines on persistent storage ($BF16PERF_STATE),
# requires bf16 hardware (a nightly job must never pass by skipping), and exits with
# pytest's code: 0 all good (a throughput verdict that cannot tell, or one night's drop the
# night before does not confirm, is a notice), 1 a test broke, 10 performance regression,
# 11 inconclusive (the bf16 gate), 12 unsupported hardware, 13 numerics changed (a loss
# curve drifted).  The last line printed is the path of the HTML report.
#
# cron (02:30 every night, as the user owning the checkout):
#   30 2 * * * cd /opt/bf16perf && BF16PERF_STATE=/srv/bf16perf scripts/nightly.sh >> /srv/bf16perf/nightly.log 2>&1
set -uo pipefail
cd "$(dirname "$0")/.."
state="${BF16PERF_STATE:-$HOME/.local/share/bf16perf}"
mkdir -p "$state/reports" "$state/baselines"
make --quiet .venv/.installed >/dev/null
.venv/bin/pytest perf \
    --perf-require-bf16 \
    --perf-reports "$state/reports" \
    --perf-history "$state/history.jsonl" \
    --perf-baselines "$state/baselines" \
    "$@"
code=$?
report="$state/reports/latest/report.html"
if [ -e "$report" ]; then
    echo "report: $(readlink -f "$report")"
else
    echo "report: none written (exit $code)"
fi
exit "$code"
