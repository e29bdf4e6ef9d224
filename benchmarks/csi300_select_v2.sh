#!/usr/bin/env bash
# Issue 23's selection (rule: benchmarks/results/csi300_select_v2.md): each candidate over seeds 0,1,2 with
# decisions in 2015-2016 only, resumable; then `python benchmarks/csi300_select_v2_table.py`.
#     [WORKERS=2] bash benchmarks/csi300_select_v2.sh [OUT=runs/select_v2] [CANDIDATES...]
# WORKERS=1 runs a candidate's seeds one after another on one worker process, so that two candidates can share
# the two cores (three seeds on two workers leave one core idle for the last seed).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/select_v2}
shift || true
names=${*:-lightgbm alstm_alpha158 alstm_alpha158_context blend alstm_raw_alpha158 alstm_aux alstm_aux_x3}
span=(--set test_start=2015-01-01 --set test_end=2016-12-31)
# fixed training spans move back two years, so that early stopping never reads 2015-2016 (the rule)
workers=${WORKERS:-2}
shifted=(--set valid_start=2013-01-01 --set valid_end=2014-12-31)
for name in $names; do
  case $name in
    lightgbm) args=(strategies/csi300_lgbm_alpha158.py --seeds 0,1,2 "${shifted[@]}") ;;
    alstm_aux_x3) args=(strategies/csi300_alstm_aux.py --grid "seeds=[[0,1,2],[3,4,5],[6,7,8]]") ;;
    *) args=("strategies/csi300_${name}.py" --seeds 0,1,2) ;;
  esac
  seqalpha sweep "${args[@]}" "${span[@]}" --workers "$workers" --threads-per-worker 1 --out "$out/$name" --resume
done
