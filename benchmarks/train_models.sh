#!/usr/bin/env bash
# Train the six models of issue 6's table on this machine's CPU; with SHIP=1, copy the real-mono Mono2Binaural and
# geometry runs over the shipped weights in binauralize/models/weights/ (otherwise they are left alone).
#   bash benchmarks/train_models.sh DATA [RUNS] [EPOCHS]
#   SHIP=1 JOBS=6 BUDGET=55 bash benchmarks/train_models.sh DATA RUNS   # as the shipped weights were made
#   JOBS=6 BUDGET=55 bash benchmarks/train_models.sh DATA RUNS   # six runs side by side, one thread each, 55 min
# DATA: a set from `binauralize dataset synth` (docs/models.md names the one behind the shipped weights); the
# feature cache is built first. Runs that finished (best.safetensors + summary.json) are skipped; a run with a
# last.safetensors resumes.
set -euo pipefail
DATA=${1:?dataset folder}; RUNS=${2:-runs}; EPOCHS=${3:-}
DATA=$(realpath -m "$DATA"); RUNS=$(realpath -m "$RUNS")  # as given, from where the script was started
cd "$(dirname "$0")/.."
JOBS=${JOBS:-1}; BUDGET=${BUDGET:-}
# the checkout's environment (scripts/setup.sh makes .venv), else the binauralize on PATH
if [[ -x .venv/bin/binauralize ]]; then B=.venv/bin/binauralize; else B=$(command -v binauralize) || {
  echo "train_models.sh: no .venv/bin/binauralize here and no binauralize on PATH (run bash scripts/setup.sh)" >&2; exit 1; }; fi
$B train-cache "$DATA" -q
extra=(); [[ -n "$EPOCHS" ]] && extra+=(--epochs "$EPOCHS"); [[ -n "$BUDGET" ]] && extra+=(--budget-minutes "$BUDGET")
mkdir -p "$RUNS"
pids=()
for input in real mix; do
  for model in mono2binaural geometry audio_only; do
    out="$RUNS/${model}_${input}"
    [[ -f "$out/best.safetensors" && -f "$out/summary.json" ]] && continue
    cmd=($B train configs/$model.toml --data "$DATA" --out "$out" --input "$input" "${extra[@]}" -q)
    [[ -f "$out/last.safetensors" ]] && cmd+=(--resume)
    if [[ "$JOBS" -gt 1 ]]; then
      # side by side: one thread each, so the runs share the cores instead of fighting over them
      OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "${cmd[@]}" > "$RUNS/${model}_${input}.log" 2>&1 &
      pids+=($!)
      while [[ $(jobs -rp | wc -l) -ge "$JOBS" ]]; do sleep 5; done
    else
      "${cmd[@]}"
    fi
  done
done
for p in "${pids[@]}"; do wait "$p"; done
if [[ "${SHIP:-0}" == 1 ]]; then
  cp "$RUNS/mono2binaural_real/best.safetensors" binauralize/models/weights/mono2binaural.safetensors
  cp "$RUNS/geometry_real/best.safetensors" binauralize/models/weights/geometry.safetensors
  echo "shipped weights replaced: binauralize/models/weights/{mono2binaural,geometry}.safetensors"
else
  echo "runs in $RUNS (SHIP=1 copies the real-mono Mono2Binaural and geometry runs over the shipped weights)"
fi
