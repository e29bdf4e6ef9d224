#!/usr/bin/env bash
# Stage 1 of benchmarks/results/csi300_zoo_select.md: each network over seeds 0,1,2 on 2015-2016 only.
#     bash benchmarks/csi300_zoo_select.sh [OUT=runs/zoo_select] [NAMES...]
set -euo pipefail
out=${1:-runs/zoo_select}
shift || true
names=${*:-lstm gru alstm tcn transformer}
for name in $names; do
  seqalpha sweep "strategies/csi300_${name}.py" --seeds 0,1,2 \
    --set test_start=2015-01-01 --set test_end=2016-12-31 --set cache=False \
    --workers 3 --threads-per-worker 1 --out "$out/$name" --resume
done
