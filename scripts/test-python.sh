#!/usr/bin/env bash
# The Python package's tests (tests/python, pytest), twice: against the build tree
# (PYTHONPATH=python, TINYLLM_LIBRARY=BUILD_DIR/libtinyllm.so) and after `cmake --install` into
# a fresh prefix (the installed package and the library beside it, nothing else set):
#   scripts/test-python.sh BUILD_DIR SHARED_DIR
# Uses the first of python3, /usr/bin/python3 that has pytest (Debian's python3-pytest).
set -euo pipefail
build=$(cd "${1:?usage: test-python.sh BUILD_DIR SHARED_DIR}" && pwd)
shared=${2:?usage: test-python.sh BUILD_DIR SHARED_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$shared/models/shakespeare5m-q8_0.gguf" ]; then
  echo "test-python: SKIP: the demo model is not in $shared/models (set TINYLLM_SHARED_DIR)"
  exit 77
fi
python=""
for candidate in python3 /usr/bin/python3; do
  if "$candidate" -m pytest --version >/dev/null 2>&1; then python=$candidate; break; fi
done
[ -n "$python" ] || { echo "test-python: no python3 with pytest (scripts/setup.sh installs python3-pytest)"; exit 1; }
export TINYLLM_SHARED_DIR=$shared TINYLLM_GENERATE=$build/examples/generate PYTHONDONTWRITEBYTECODE=1
cd "$build"  # pytest's cache and any stray files stay out of the source tree

echo "== build tree"
PYTHONPATH=$here/python TINYLLM_LIBRARY=$build/libtinyllm.so "$python" -m pytest -q -p no:cacheprovider "$here/tests/python"

echo "== installed"
prefix=$build/test-python-prefix
rm -rf "$prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
site=$(cd "$prefix" && find . -path '*/site-packages/tinyllm/__init__.py' | head -1)
[ -n "$site" ] || { echo "test-python: the install put no Python package under $prefix"; exit 1; }
site=$prefix/$(dirname "$(dirname "$site")")
env -u TINYLLM_LIBRARY PYTHONPATH="$site" TINYLLM_PACKAGE_DIR="$site/tinyllm" "$python" -m pytest -q -p no:cacheprovider "$here/tests/python"
