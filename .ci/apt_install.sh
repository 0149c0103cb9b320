#!/bin/sh
# Best-effort install of Debian packages for optional tests: usage
#   sh .ci/apt_install.sh WHO COMMAND PACKAGE...
# WHO names what needs them in every message ("browser test"), COMMAND is what must end up
# on PATH. This script never fails the test run: when COMMAND cannot be installed it says
# why, and the tests that need it skip with the same reason.
who="$1" command="$2"
shift 2
packages="$*"

if command -v "$command" >/dev/null 2>&1; then
  exit 0
elif [ "$(id -u)" != 0 ]; then
  echo "$who: $command not found and not root, so it is not installed here;" \
       "to enable it: sudo apt-get install $packages (Debian/Ubuntu)" >&2
elif [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "$who: $command not found and this is not Debian/Ubuntu;" \
       "install $packages with your package manager so that '$command' is on PATH" >&2
else
  echo "$who: installing $packages with apt-get (once)" >&2
  # Time-bounded so that a dead mirror costs minutes, not the CI budget.
  # shellcheck disable=SC2086  # the package list splits into words on purpose
  if ! { timeout 300 apt-get update -qq >/dev/null 2>&1 &&
         DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq \
           --no-install-recommends $packages >/dev/null 2>&1; }; then
    echo "$who: 'apt-get install $packages' failed (offline?); the tests that need" \
         "$command will skip" >&2
  fi
fi
exit 0
