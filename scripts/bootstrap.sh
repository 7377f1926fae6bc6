# Sourced by the other scripts: install the pinned dependencies into .venv.
# Usage: BOOTSTRAP_GROUPS=--no-dev . scripts/bootstrap.sh   (the caller's own arguments are not read)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

UV_VERSION="0.13.8"
export UV_PYTHON_DOWNLOADS=never       # use the machine's Python 3.11, never download one
export UV_PROJECT_ENVIRONMENT="$PWD/.venv"

if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "==> installing uv $UV_VERSION"
  python3 -m pip install --quiet "uv==$UV_VERSION"
fi
echo "==> installing the locked dependencies into .venv"
uv sync --frozen --quiet ${BOOTSTRAP_GROUPS:-}
export PATH="$PWD/.venv/bin:$PATH"
