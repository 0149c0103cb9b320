#!/bin/sh
# Best-effort set-up of the browser test (tests/test_browser.py): Debian's Chromium and
# Playwright for Python. Playwright's own browser download is not used: it needs hosts
# that offline and locked-down machines cannot reach, and the distribution's Chromium
# is kept patched by apt. This script never fails the test run: when something cannot
# be installed it says why, and the browser test skips with the same reason.
py="${1:-.venv/bin/python}"

if command -v chromium >/dev/null 2>&1; then
  :
elif [ "$(id -u)" != 0 ]; then
  echo "browser test: chromium not found and not root, so it is not installed here;" \
       "to enable the test: sudo apt-get install chromium (Debian/Ubuntu)" >&2
elif [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "browser test: chromium not found and this is not Debian/Ubuntu;" \
       "install Chromium with your package manager so that 'chromium' is on PATH" >&2
else
  echo "browser test: installing chromium with apt-get (once)" >&2
  # Time-bounded so that a dead mirror costs minutes, not the CI budget.
  if ! { timeout 300 apt-get update -qq >/dev/null 2>&1 &&
         DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq \
           --no-install-recommends chromium >/dev/null 2>&1; }; then
    echo "browser test: 'apt-get install chromium' failed (offline?); the test will skip" >&2
  fi
fi

if ! "$py" -c "import playwright" >/dev/null 2>&1; then
  echo "browser test: installing playwright (the Python package only)" >&2
  if ! timeout 300 "$py" -m pip install --quiet "playwright>=1.40,<2" >/dev/null 2>&1; then
    echo "browser test: 'pip install playwright' failed (offline?); the test will skip" >&2
  fi
fi
exit 0
