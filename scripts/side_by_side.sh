#!/usr/bin/env bash
# How much of the harness is in the bf16 figure: one pytest perf/ session per harness
# setting, then one table (bf16perf side-by-side; BENCHMARKS.md H2 has the figures).
#
#   scripts/side_by_side.sh OUTDIR [extra pytest options, e.g. --perf-profile smoke]
#
# Rows (BF16PERF_ROWS picks some, e.g. "split one"):
#   split      the default local shape (2 workers sharing the cores: the all-reduce runs)
#   one        one worker on all the CPUs this process may use (no all-reduce)
#   bf16ar     split, bf16 runs all-reduce their gradients in bf16 (--perf-bf16-allreduce)
#   pack0      split, one all-reduce per gradient (--perf-bytes-per-pack 0)
#   pack4      split, 4 MiB packs (--perf-bytes-per-pack 4194304)
#   auto       split, TensorFlow picks the collective (--perf-collective auto)
# Each session keeps its report under OUTDIR/<row>/ and judges against nothing stored
# (its own empty store): only its figures count.  On a host without bf16 pass
# --perf-allow-emulated-bf16: the rows then time the harness, and the table says "emulated
# bf16" (no bf16 speedup).  Exit 0 when every row left a report and the table was made,
# else 1 naming the row.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
    echo "usage: scripts/side_by_side.sh OUTDIR [pytest options]" >&2
    exit 2
fi
out="$1"
shift
cpus=$(nproc)
declare -A extra=(
    [split]=""
    [one]="--perf-workers 1 --perf-cores-per-worker $cpus"
    [bf16ar]="--perf-bf16-allreduce"
    [pack0]="--perf-bytes-per-pack 0"
    [pack4]="--perf-bytes-per-pack 4194304"
    [auto]="--perf-collective auto"
)
rows=(${BF16PERF_ROWS:-split one bf16ar pack0 pack4 auto})
pytest="${BF16PERF_PYTEST:-.venv/bin/pytest}"
made=()
for row in "${rows[@]}"; do
    if [ -z "${extra[$row]+set}" ]; then
        echo "side_by_side: no row named $row (rows: ${!extra[*]})" >&2
        exit 2
    fi
    mkdir -p "$out/$row/baselines"
    echo "== row $row: $pytest perf ${extra[$row]} $*"
    # shellcheck disable=SC2086  # the row's options are words
    "$pytest" perf -p no:cacheprovider --perf-reports "$out/$row/reports" \
        --perf-baselines "$out/$row/baselines" --perf-history "$out/$row/history.jsonl" \
        --perf-label "row=$row" ${extra[$row]} "$@"
    echo "== row $row: exit $?"
    if [ ! -f "$out/$row/reports/latest/report.json" ]; then
        echo "side_by_side: row $row left no report ($out/$row/reports/latest/report.json)" >&2
        exit 1
    fi
    made+=("$out/$row/reports/latest")
done
"${BF16PERF_COMMAND:-.venv/bin/bf16perf}" side-by-side "${made[@]}" | tee "$out/table.md"
