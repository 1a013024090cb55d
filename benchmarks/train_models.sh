#!/usr/bin/env bash
# Train the six models of issue 6's table on this machine's CPU and copy the shipped ones into the package.
#   bash benchmarks/train_models.sh DATA [RUNS] [EPOCHS]
# DATA: a set from `binauralize dataset synth` (2,000 clips in docs/models.md); the feature cache is built first.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?dataset folder}; RUNS=${2:-runs}; EPOCHS=${3:-}
B=.venv/bin/binauralize
$B train-cache "$DATA" -q
extra=(); [[ -n "$EPOCHS" ]] && extra=(--epochs "$EPOCHS")
for input in real mix; do
  for model in mono2binaural geometry audio_only; do
    out="$RUNS/${model}_${input}"
    [[ -f "$out/best.safetensors" && -f "$out/summary.json" ]] && continue
    $B train configs/$model.toml --data "$DATA" --out "$out" --input "$input" "${extra[@]}" -q \
      $( [[ -f "$out/last.safetensors" ]] && echo --resume )
  done
done
mkdir -p binauralize/models/weights
cp "$RUNS/mono2binaural_real/best.safetensors" binauralize/models/weights/mono2binaural.safetensors
cp "$RUNS/geometry_real/best.safetensors" binauralize/models/weights/geometry.safetensors
