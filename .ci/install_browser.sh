#!/bin/sh
# Best-effort set-up of the browser test (tests/test_browser.py): Debian's Chromium and
# Playwright for Python. Playwright's own browser download is not used: it needs hosts
# that offline and locked-down machines cannot reach, and the distribution's Chromium
# is kept patched by apt. This script never fails the test run: when something cannot
# be installed it says why, and the browser test skips with the same reason.
py="${1:-.venv/bin/python}"

sh "$(dirname "$0")/apt_install.sh" "browser test" chromium chromium

if ! "$py" -c "import playwright" >/dev/null 2>&1; then
  echo "browser test: installing playwright (the Python package only)" >&2
  if ! timeout 300 "$py" -m pip install --quiet "playwright>=1.40,<2" >/dev/null 2>&1; then
    echo "browser test: 'pip install playwright' failed (offline?); the test will skip" >&2
  fi
fi
exit 0
