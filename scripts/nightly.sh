#!/usr/bin/env bash
# Nightly bf16perf run on target hardware.
#
#   BF16PERF_STATE=/srv/bf16perf scripts/nightly.sh [extra pytest options]
#
# Keeps reports, the history, the baselines and the reference stacks on persistent storage
# ($BF16PERF_STATE).  With a kept reference stack (bf16perf reference create NAME; the one
# named by $BF16PERF_REFERENCE, else the newest in $BF16PERF_STATE/references) every night
# is the paired nightly: each variant's runs alternate with the reference's, and tonight's
# pairs are judged with the last nights'.  Without one it says once how to make one and
# judges against the stored baseline.  It requires bf16 hardware (a nightly job must never
# pass by skipping), and exits with
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
mkdir -p "$state/reports" "$state/baselines" "$state/references"
make --quiet .venv/.installed >/dev/null
reference="${BF16PERF_REFERENCE:-}"
if [ -z "$reference" ]; then
    newest=$(ls -t "$state/references"/*/reference.json 2>/dev/null | head -n 1)
    [ -n "$newest" ] && reference=$(basename "$(dirname "$newest")")
fi
paired=()
if [ -n "$reference" ]; then
    echo "paired nightly against reference $reference ($state/references/$reference)"
    paired=(--perf-reference "$reference" --perf-references "$state/references")
elif [ ! -e "$state/.reference-hint" ]; then
    echo "no reference stack: judged against the stored baseline. A paired nightly finds a"
    echo "lasting 10% drop within 3 nights far more often (docs/nightly.md, 'The paired nightly'):"
    echo "  BF16PERF_STATE=$state .venv/bin/bf16perf reference create release"
    touch "$state/.reference-hint"
fi
session() {
    .venv/bin/pytest perf \
        --perf-require-bf16 \
        --perf-reports "$state/reports" \
        --perf-history "$state/history.jsonl" \
        --perf-baselines "$state/baselines" \
        "${paired[@]}" \
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
    # the verdicts as a Markdown table, on the job's page where CI has one (GitHub Actions)
    if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
        .venv/bin/bf16perf summary "$state/reports/latest" >> "$GITHUB_STEP_SUMMARY" || true
    fi
else
    echo "report: none written (exit $code)"
fi
exit "$code"
