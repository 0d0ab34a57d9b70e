#!/usr/bin/env bash
# Makes sure the `redis-server` binary is there for the RedisStore tests:
#
#   bash tooling/scripts/ensure-redis.sh
#
# - When `redis-server` is on PATH already, does nothing.
# - Otherwise, when we are root and have apt-get, installs Debian's `redis-server` package
#   non-interactively (apt-get update first; output goes to
#   ${TMPDIR:-/tmp}/sessionkit-redis-apt.log). It never starts a system service: while the
#   package installs, a policy-rc.d that forbids service starts is put in place (unless one
#   exists already), and removed again afterwards.
# - Exits 0 in every case: the tests start their own redis-server on a free loopback port and
#   report themselves as skipped, with the reason, when there is none.
# Prints one line to stderr saying what happened. Safe to run any number of times.
set -u

note() { printf 'ensure-redis: %s\n' "$*" >&2; }

if command -v redis-server >/dev/null 2>&1; then
  note "redis-server is installed ($(redis-server --version 2>/dev/null | cut -d' ' -f1-3))"
  exit 0
fi

if [ "$(uname -s)" != "Linux" ] || [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  note "redis-server is not installed and cannot be installed here (needs root and apt-get); the Redis tests will be skipped"
  exit 0
fi

apt_log="${TMPDIR:-/tmp}/sessionkit-redis-apt.log"
policy=/usr/sbin/policy-rc.d
placed_policy=""
remove_policy() {
  if [ -n "$placed_policy" ]; then rm -f "$policy"; fi
}
trap remove_policy EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ ! -e "$policy" ]; then
  # invoke-rc.d and deb-systemd-invoke ask this script before starting a service; 101 = "no".
  printf '#!/bin/sh\n# Placed by sessionkit ensure-redis.sh while redis-server installs.\nexit 101\n' >"$policy" &&
    chmod 755 "$policy" && placed_policy=1
fi

note "installing Debian's redis-server (log: $apt_log)"
{
  DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update &&
    DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      install --no-install-recommends redis-server
} >"$apt_log" 2>&1
status=$?

if command -v redis-server >/dev/null 2>&1; then
  note "installed $(redis-server --version 2>/dev/null | cut -d' ' -f1-3) (no service started)"
else
  note "could not install redis-server (apt-get exit $status, see $apt_log); the Redis tests will be skipped"
fi
exit 0
