#!/usr/bin/env bash
# Set up reelscope (once per dependency set) and run the demo or the tests.
#   scripts/dev.sh demo   analyse the built-in sample clip on an embedded local Ray
#   scripts/dev.sh test   run the test suite
# The virtualenv is cached by the hash of pyproject.toml (REELSCOPE_VENV overrides its path),
# so a second run, or CI on a fresh clone, skips the ~2 minute install.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/reelscope
deps_hash=$(sha256sum pyproject.toml | cut -c1-12)
venv=${REELSCOPE_VENV:-$cache/venv-$deps_hash}

if [ ! -f "$venv/.installed" ]; then
    echo "setting up $venv (first run only)"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -e ".[test]"
    touch "$venv/.installed"
fi
# The venv may have been made from another clone: point its editable install at this one.
if [ "$("$venv/bin/python" -I -c 'import pipeline, os; print(os.path.dirname(os.path.dirname(pipeline.__file__)))' 2>/dev/null)" != "$PWD" ]; then
    "$venv/bin/pip" install -q --no-deps -e .
fi

export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-$cache/numba}  # librosa's kernels compile once, not per run
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled}          # the embedded Ray listens on loopback only
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} YOLO_OFFLINE=${YOLO_OFFLINE:-1}

case "${1:-}" in
    demo) shift; exec "$venv/bin/reelscope" analyze "$@" ;;
    test)
        shift
        # The HTML report is tested in a real headless Chromium: Debian's package.
        if ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then
            echo "installing chromium for the report test"
            sudo=$([ "$(id -u)" = 0 ] || echo sudo)
            { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium; } >/dev/null \
                || echo "could not install chromium: the report tests will fail" >&2
        fi
        # Audio fingerprints (audio_analysis, the corpus view's same-sound groups) come from Chromaprint's fpcalc.
        if ! command -v fpcalc >/dev/null && command -v apt-get >/dev/null; then
            echo "installing fpcalc (libchromaprint-tools) for the audio fingerprints"
            sudo=$([ "$(id -u)" = 0 ] || echo sudo)
            { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libchromaprint-tools; } >/dev/null \
                || echo "could not install fpcalc: audio fingerprints will be missing and the corpus tests will fail" >&2
        fi
        exec "$venv/bin/python" -m pytest -q "$@" ;;
    *) echo "usage: scripts/dev.sh demo|test [args]" >&2; exit 2 ;;
esac
