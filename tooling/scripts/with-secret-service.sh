#!/usr/bin/env bash
# Runs a command with a real Secret Service, for the KeychainStore tests:
#
#   bash tooling/scripts/with-secret-service.sh <command> [args...]
#
# 1. Installs dbus, gnome-keyring and libsecret-tools with apt-get when they are missing and we
#    are root (log: ${TMPDIR:-/tmp}/sessionkit-secret-service-apt.log).
# 2. Points HOME and the XDG directories at a fresh temporary directory, so no real keyring or
#    configuration is touched.
# 3. Inside `dbus-run-session`, starts gnome-keyring-daemon (secrets component) with an unlocked
#    login keyring, checks it with a real store/lookup round trip through secret-tool, exports
#    SESSIONKIT_SECRET_SERVICE=1 and runs the command.
# 4. When any of that cannot work, runs the command anyway, without a Secret Service, with
#    SESSIONKIT_SECRET_SERVICE_UNAVAILABLE="<reason>" exported (the keychain tests then report
#    themselves as skipped with that reason).
# Exits with the command's exit code and removes the temporary directory and the daemon. When the
# daemon ended during the command, or the command failed and the daemon printed anything, the
# daemon's exit status and log are printed to stderr.
# Prints one line to stderr saying which case happened.
set -u

if [ "$#" -eq 0 ]; then
  echo "usage: bash tooling/scripts/with-secret-service.sh <command> [args...]" >&2
  exit 2
fi

note() { printf 'with-secret-service: %s\n' "$*" >&2; }

base="$(mktemp -d "${TMPDIR:-/tmp}/sessionkit-secret-service.XXXXXX")" || { note "cannot create a temporary directory"; exit 1; }
chmod 700 "$base"
cleanup() { rm -rf "$base"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$base/home" "$base/config" "$base/data" "$base/cache" "$base/runtime" "$base/state"
chmod 700 "$base/home" "$base/config" "$base/data" "$base/cache" "$base/runtime" "$base/state"
# Both cases run the command with these, so tests never write into the real home directory.
export HOME="$base/home"
export XDG_CONFIG_HOME="$base/config"
export XDG_DATA_HOME="$base/data"
export XDG_CACHE_HOME="$base/cache"
export XDG_RUNTIME_DIR="$base/runtime"
unset SESSIONKIT_SECRET_SERVICE SESSIONKIT_SECRET_SERVICE_UNAVAILABLE

missing_tools() {
  local tool missing=""
  for tool in dbus-run-session gnome-keyring-daemon secret-tool; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
  done
  printf '%s' "${missing# }"
}

reason=""
missing="$(missing_tools)"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt_log="${TMPDIR:-/tmp}/sessionkit-secret-service-apt.log"
    note "installing dbus gnome-keyring libsecret-tools (missing: $missing; log: $apt_log)"
    packages="dbus gnome-keyring libsecret-tools"
    {
      DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update &&
      DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 install --no-install-recommends $packages &&
      # dbus-run-session is in the dbus packages on current distributions, in dbus-x11 on older ones.
      if ! command -v dbus-run-session >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 install --no-install-recommends dbus-x11
      fi
    } >"$apt_log" 2>&1 || reason="apt-get install of $packages failed (see $apt_log)"
    missing="$(missing_tools)"
  fi
  if [ -z "$reason" ] && [ -n "$missing" ]; then
    reason="missing $missing (install dbus, gnome-keyring and libsecret-tools)"
  fi
fi

if [ -z "$reason" ]; then
  # The inner script starts the keyring, verifies it, then writes "$base/ready" and runs the
  # command. If it ends without writing "ready", the command did not run and we fall back.
  inner='
    set -u
    base="$1"; shift
    fail() { printf "%s" "$1" > "$base/reason"; exit 1; }
    password="sessionkit-test-$$-$RANDOM"
    printf "%s" "$password" | gnome-keyring-daemon --foreground --unlock --components=secrets \
      >"$base/keyring.env" 2>"$base/keyring.log" &
    daemon=$!
    stop_daemon() { kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; }
    trap stop_daemon EXIT
    # Wait (bounded) until our daemon owns the Secret Service name, so that secret-tool does
    # not make the bus activate a second, locked daemon; then insist on a real round trip.
    owned=""
    for _ in $(seq 1 200); do
      kill -0 "$daemon" 2>/dev/null || fail "gnome-keyring-daemon exited: $(tr "\n" " " < "$base/keyring.log" | sed "s/ *$//" | cut -c1-300)"
      command -v dbus-send >/dev/null 2>&1 || { owned=1; break; }
      case "$(dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null)" in
        *true*) owned=1; break ;;
      esac
      sleep 0.05
    done
    [ -n "$owned" ] || fail "gnome-keyring-daemon did not claim org.freedesktop.secrets within 10 s"
    probe="probe-$$-$RANDOM"
    ok=""
    for _ in $(seq 1 20); do
      kill -0 "$daemon" 2>/dev/null || fail "gnome-keyring-daemon exited: $(tr "\n" " " < "$base/keyring.log" | sed "s/ *$//" | cut -c1-300)"
      if printf "%s" "$probe" | timeout 5 secret-tool store --label="sessionkit probe" sessionkit-probe "$probe" >/dev/null 2>&1 &&
         [ "$(timeout 5 secret-tool lookup sessionkit-probe "$probe" 2>/dev/null)" = "$probe" ]; then
        ok=1
        break
      fi
      sleep 0.1
    done
    [ -n "$ok" ] || fail "gnome-keyring did not answer a secret-tool store/lookup round trip: $(tr "\n" " " < "$base/keyring.log" | sed "s/ *$//" | cut -c1-300)"
    timeout 5 secret-tool clear sessionkit-probe "$probe" >/dev/null 2>&1
    while IFS= read -r line; do
      case "$line" in
        [A-Z_]*=*) export "${line?}" ;;
      esac
    done < "$base/keyring.env"
    export SESSIONKIT_SECRET_SERVICE=1
    : > "$base/ready"
    printf "with-secret-service: running the command with gnome-keyring as the Secret Service (SESSIONKIT_SECRET_SERVICE=1, HOME=%s)\n" "$HOME" >&3
    "$@" 2>&3 3>&-
    status=$?
    # A Secret Service that died under the command fails every keychain call in flight with
    # UNAVAILABLE ("Message recipient disconnected"): say so, with what the daemon printed.
    log_tail() { tail -c 2000 "$base/keyring.log" | tr "\n" " " | sed "s/ *$//"; }
    if ! kill -0 "$daemon" 2>/dev/null; then
      wait "$daemon"
      printf "with-secret-service: gnome-keyring-daemon ended during the command (exit status %s; above 128 is 128 + a signal number); its log: %s\n" "$?" "$(log_tail)" >&3
    elif [ "$status" -ne 0 ] && [ -s "$base/keyring.log" ]; then
      printf "with-secret-service: the command failed; gnome-keyring-daemon is still running; its log: %s\n" "$(log_tail)" >&3
    fi
    exit "$status"
  '
  # fd 3 carries the command's stderr past the filter that keeps dbus-daemon's and
  # gnome-keyring's start-up chatter out of the output (it lands in "$base/session.log").
  exec 3>&2
  dbus-run-session -- bash -c "$inner" bash "$base" "$@" 2>>"$base/session.log"
  status=$?
  exec 3>&-
  if [ -f "$base/ready" ]; then
    exit "$status"
  fi
  reason="$(cat "$base/reason" 2>/dev/null)"
  [ -n "$reason" ] || reason="dbus-run-session failed to start a session bus (exit $status)"
fi

note "no Secret Service ($reason); running the command without it, SESSIONKIT_SECRET_SERVICE_UNAVAILABLE set (keychain tests are skipped)"
env -u DBUS_SESSION_BUS_ADDRESS SESSIONKIT_SECRET_SERVICE_UNAVAILABLE="$reason" "$@"
exit $?
