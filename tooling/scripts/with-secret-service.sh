#!/usr/bin/env bash
# Runs a command with a real Secret Service, for the KeychainStore tests:
#
#   bash tooling/scripts/with-secret-service.sh <command> [args...]
#
# 1. Installs dbus, gnome-keyring and libsecret-tools with apt-get when they are missing and we
#    are root (log: ${TMPDIR:-/tmp}/sessionkit-secret-service-apt.log).
# 2. Points HOME and the XDG directories at a fresh temporary directory, so no real keyring or
#    configuration is touched.
# 3. Inside `dbus-run-session` (a session bus that activates no services), starts
#    gnome-keyring-daemon (secrets component) with an unlocked login keyring, checks it with a
#    real store/lookup round trip through secret-tool, exports SESSIONKIT_SECRET_SERVICE=1 and
#    SESSIONKIT_SECRET_SERVICE_STATE (see below) and runs the command. A daemon that ends during
#    the command is started again on the same keyring, up to 4 times.
# 4. When any of that cannot work, runs the command anyway, without a Secret Service, with
#    SESSIONKIT_SECRET_SERVICE_UNAVAILABLE="<reason>" exported (the keychain tests then report
#    themselves as skipped with that reason).
# Exits with the command's exit code and removes the temporary directory and the daemon. Each time
# the daemon ended during the command (its exit status and log), or when the command failed and
# the daemon printed anything (its log), that is printed to stderr.
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
  # A session bus without service activation: when our daemon is gone, a call fails at once
  # (ServiceUnknown) instead of making the bus start a second gnome-keyring-daemon, whose login
  # keyring would be locked, answering every call with an unlock prompt that nobody can answer.
  cat > "$base/bus.conf" <<'EOF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  <limit name="max_completed_connections">100000</limit>
  <limit name="max_incomplete_connections">10000</limit>
  <limit name="max_connections_per_user">100000</limit>
  <limit name="max_replies_per_connection">50000</limit>
</busconfig>
EOF
  # The inner script starts the keyring under a supervisor, waits until it serves a store/lookup
  # round trip, then writes "$base/ready" and runs the command. If it ends without writing
  # "ready", the command did not run and we fall back.
  #
  # gnome-keyring-daemon (42.1 here) can abort when several clients make short-lived
  # connections at once ("gkd_secret_service_get_pkcs11_session: assertion 'client' failed", then
  # a GLib-ERROR in g_variant_new): the native module behind KeychainStore opens a connection per
  # call. The supervisor then starts it again on the same login keyring (same password, same
  # files: the items stored before are still there), up to 4 times, and appends what happened to
  # "$base/restarts", which is printed at the end. "$base/secret-service.state", exported as
  # SESSIONKIT_SECRET_SERVICE_STATE, says "up <generation> <pid>" while a daemon serves,
  # "down <generation>" while it is started again, and "gave-up <generation>" after the last start
  # failed or the fifth daemon ended; the keychain tests read it to retry, once, a test under which
  # the daemon ended (see packages/token-store/src/testing/secret-service.ts).
  inner='
    set -u
    base="$1"; shift
    password="sessionkit-test-$$-$RANDOM"
    log_of() { tail -c "$2" "$1" 2>/dev/null | tr "\n" " " | sed "s/ *$//"; }
    set_state() { printf "%s\n" "$1" > "$base/secret-service.state.tmp" && mv -f "$base/secret-service.state.tmp" "$base/secret-service.state"; }
    # Starts gnome-keyring-daemon number $1, unlocking (or, the first time, creating) the login
    # keyring with $password, and waits (bounded) until it owns the Secret Service name and
    # answers a real store/lookup round trip. Sets $daemon; on failure writes $base/reason and
    # returns 1.
    start_daemon() {
      printf "%s" "$password" | gnome-keyring-daemon --foreground --unlock --components=secrets \
        >"$base/keyring.env" 2>"$base/keyring.$1.log" &
      daemon=$!
      local owned="" ok="" probe="probe-$$-$RANDOM" _
      for _ in $(seq 1 200); do
        kill -0 "$daemon" 2>/dev/null || { printf "gnome-keyring-daemon exited: %s" "$(log_of "$base/keyring.$1.log" 300)" > "$base/reason"; return 1; }
        command -v dbus-send >/dev/null 2>&1 || { owned=1; break; }
        case "$(dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null)" in
          *true*) owned=1; break ;;
        esac
        sleep 0.05
      done
      [ -n "$owned" ] || { printf "gnome-keyring-daemon did not claim org.freedesktop.secrets within 10 s" > "$base/reason"; return 1; }
      for _ in $(seq 1 20); do
        kill -0 "$daemon" 2>/dev/null || { printf "gnome-keyring-daemon exited: %s" "$(log_of "$base/keyring.$1.log" 300)" > "$base/reason"; return 1; }
        if printf "%s" "$probe" | timeout 5 secret-tool store --label="sessionkit probe" sessionkit-probe "$probe" >/dev/null 2>&1 &&
           [ "$(timeout 5 secret-tool lookup sessionkit-probe "$probe" 2>/dev/null)" = "$probe" ]; then
          ok=1
          break
        fi
        sleep 0.1
      done
      [ -n "$ok" ] || { printf "gnome-keyring did not answer a secret-tool store/lookup round trip: %s" "$(log_of "$base/keyring.$1.log" 300)" > "$base/reason"; return 1; }
      timeout 5 secret-tool clear sessionkit-probe "$probe" >/dev/null 2>&1
      return 0
    }
    daemon=""
    supervise() {
      local generation=1 status action
      # Stopped (at the end of the command): stop the daemon, and reap it.
      trap "kill \"\$daemon\" 2>/dev/null; wait \"\$daemon\" 2>/dev/null; exit 0" TERM
      while :; do
        if ! start_daemon "$generation"; then
          kill "$daemon" 2>/dev/null
          if [ "$generation" -eq 1 ]; then set_state "failed 1"; else
            printf "gnome-keyring-daemon could not be started again (generation %s): %s\n" "$generation" "$(cat "$base/reason")" >> "$base/restarts"
            set_state "gave-up $generation"
          fi
          return 1
        fi
        set_state "up $generation $daemon"
        wait "$daemon"
        status=$?
        set_state "down $generation"
        if [ "$generation" -ge 5 ]; then action="not started again: 5 have ended"; else action="started again"; fi
        printf "gnome-keyring-daemon %s (pid %s) ended with exit status %s (above 128 is 128 + a signal number), %s; its log: %s\n" \
          "$generation" "$daemon" "$status" "$action" "$(log_of "$base/keyring.$generation.log" 1500)" >> "$base/restarts"
        if [ "$generation" -ge 5 ]; then set_state "gave-up $generation"; return 1; fi
        generation=$((generation + 1))
      done
    }
    supervise &
    supervisor=$!
    # The supervisor stops its daemon (and does not start another) on SIGTERM.
    stop_supervisor() {
      kill "$supervisor" 2>/dev/null
      wait "$supervisor" 2>/dev/null
    }
    trap stop_supervisor EXIT
    until [ -s "$base/secret-service.state" ]; do
      kill -0 "$supervisor" 2>/dev/null || break
      sleep 0.05
    done
    case "$(cat "$base/secret-service.state" 2>/dev/null)" in
      up\ *) ;;
      *) [ -s "$base/reason" ] || printf "the gnome-keyring supervisor ended before the keyring was ready" > "$base/reason"; exit 1 ;;
    esac
    while IFS= read -r line; do
      case "$line" in
        [A-Z_]*=*) export "${line?}" ;;
      esac
    done < "$base/keyring.env"
    export SESSIONKIT_SECRET_SERVICE=1 SESSIONKIT_SECRET_SERVICE_STATE="$base/secret-service.state"
    : > "$base/ready"
    printf "with-secret-service: running the command with gnome-keyring as the Secret Service (SESSIONKIT_SECRET_SERVICE=1, HOME=%s)\n" "$HOME" >&3
    "$@" 2>&3 3>&-
    status=$?
    # A Secret Service that died under the command fails every keychain call in flight with
    # UNAVAILABLE ("Message recipient disconnected"): say so, with what the daemon printed.
    if [ -s "$base/restarts" ]; then
      printf "with-secret-service: gnome-keyring-daemon ended during the command; a keychain test running then is retried once, on a daemon started again on the same keyring (vitest marks it retried):\n" >&3
      sed "s/^/  /" "$base/restarts" >&3
    fi
    case "$(cat "$base/secret-service.state" 2>/dev/null)" in
      up\ *)
        current="$(cut -d" " -f2 "$base/secret-service.state")"
        if [ "$status" -ne 0 ] && [ -s "$base/keyring.$current.log" ]; then
          printf "with-secret-service: the command failed; gnome-keyring-daemon is still running; its log: %s\n" "$(log_of "$base/keyring.$current.log" 2000)" >&3
        fi ;;
    esac
    exit "$status"
  '
  # fd 3 carries the command's stderr past the filter that keeps dbus-daemon's and
  # gnome-keyring's start-up chatter out of the output (it lands in "$base/session.log").
  exec 3>&2
  dbus-run-session --config-file="$base/bus.conf" -- bash -c "$inner" bash "$base" "$@" 2>>"$base/session.log"
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
