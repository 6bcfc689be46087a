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
# curve drifted).  A night whose drop only its own session shows runs one more session at
# once, which confirms it (exit 10) or clears it.  The last line printed is the path of the
# HTML report.
#
# cron (02:30 every night, as the user owning the checkout):
#   30 2 * * * cd /opt/bf16perf && BF16PERF_STATE=/srv/bf16perf scripts/nightly.sh >> /srv/bf16perf/nightly.log 2>&1
set -uo pipefail
cd "$(dirname "$0")/.."
state="${BF16PERF_STATE:-$HOME/.local/share/bf16perf}"
mkdir -p "$state/reports" "$state/baselines"
make --quiet .venv/.installed >/dev/null
session() {
    .venv/bin/pytest perf \
        --perf-require-bf16 \
        --perf-reports "$state/reports" \
        --perf-history "$state/history.jsonl" \
        --perf-baselines "$state/baselines" \
        "$@"
}
session "$@"
code=$?
# A drop that only this session shows is "suspect, unconfirmed" (exit 0): one session's draw
# can be that slow.  The next session confirms or clears it, so run it now, once, and
# decide tonight (BF16PERF_CONFIRM_NOW=0: wait for tomorrow night instead).
if [ "$code" -eq 0 ] && [ "${BF16PERF_CONFIRM_NOW:-1}" != 0 ] &&
    grep -q '"suspect, unconfirmed"' "$state/reports/latest/report.json" 2>/dev/null; then
    echo "a suspect drop: one more session now, to confirm or clear it"
    session "$@"
    code=$?
fi
report="$state/reports/latest/report.html"
if [ -e "$report" ]; then
    echo "report: $(readlink -f "$report")"
else
    echo "report: none written (exit $code)"
fi
exit "$code"
