# A pluto-rs side run as a libreswan user runs libreswan: an ipsec.conf (config setup
# and one conn), an ipsec.secrets, `ipsec start` (which loads the modules, checks the
# file and starts pluto --config, which forks once ready and adds the auto=add conn),
# `ipsec up`, `ipsec status`, `ipsec trafficstatus`, `ipsec down`, `ipsec stop`.
# Everything of the side lives in its scratch dir: `ipsec --rundir` and the file's
# config setup (logfile=, secretsfile=, rundir=) keep it off the machine's /etc and
# /run. The binaries: $TN_BIN/ipsec, which runs $TN_BIN/pluto ($IPSEC_EXECDIR).

ipsec_bin() { echo "${TN_IPSEC_BIN:-$TN_BIN/ipsec}"; }

# ipsec_cmd SIDE ARGS...: the ipsec command on SIDE, with the side's run dir and file
ipsec_cmd() {
  s=$1; shift
  d=$TN_SCRATCH/$s
  # shellcheck disable=SC2086
  tn_in "$s" env IPSEC_EXECDIR="$TN_BIN" ${IPSEC_ENV:-} "$(ipsec_bin)" --rundir "$d/run" \
    --config "$d/ipsec.conf" "$@"
}

# <side>_AUTO: the conn's auto= (default add: pluto adds it; start: pluto brings it
# up itself; route: traffic does).
# <side>_NOTIFY=yes: `ipsec start` runs under a stand-in for systemd's notification
# socket ($d/notify.sock, WATCHDOG_USEC=1000000): every datagram pluto sends is
# appended to $d/notify.log, one notification per line (newlines shown as |).
ipsec_notify_listener() {
  python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        log.write(s.recv(4096).decode(errors="replace").strip("\n").replace("\n", "|") + "\n")
' "$1" "$2"
}

ipsec_start() {
  s=$1 o=$(other $1) d=$TN_SCRATCH/$1
  mkdir -p "$d/run"
  auto=$(side_var $s AUTO); auto=${auto:-add}
  pluto_secrets $s "$(side_var $s PSK)"
  mode=tunnel; [ "$TUNNEL" = yes ] || mode=transport
  {
    printf 'config setup\n\tlogfile=%s\n\tsecretsfile=%s\n\trundir=%s\n\tuniqueids=yes\n\n' \
      "$d/pluto.log" "$d/ipsec.secrets" "$d/run"
    printf 'conn %s\n\tauthby=secret\n\tkeyexchange=ikev2\n\ttype=%s\n' "$CONN" "$mode"
    printf '\tike=%s\n\tesp=%s\n' "$(side_var $s IKE_LS)" "$ESP_LS"
    printf '\tleft=%s\n\tleftid=%s\n' "$(side_var $s HOST)" "$(side_var $s ID)"
    [ -n "$(side_var $s NET)" ] && printf '\tleftsubnet=%s\n' "$(side_var $s NET)"
    printf '\tright=%s\n\trightid=%s\n' "$(side_var $o HOST)" "$(side_var $o ID)"
    [ -n "$(side_var $o NET)" ] && printf '\trightsubnet=%s\n' "$(side_var $o NET)"
    # the namespaces already route the client subnets (lib.sh's tn_pair)
    printf '\tleftupdown=%%disabled\n\trekey=no\n\tauto=%s\n' "$auto"
  } > "$d/ipsec.conf"
  tn_log "$s: $d/ipsec.conf:"
  sed 's/^/    /' "$d/ipsec.conf"
  if [ "$(side_var $s NOTIFY)" = yes ]; then
    rm -f "$d/notify.sock"
    tn_bg ipsec_notify_listener "$d/notify.sock" "$d/notify.log"
    i=0; until [ -S "$d/notify.sock" ]; do i=$((i + 1)); [ $i -le 50 ] || return 1; sleep 0.1; done
    tn_log "$s\$ NOTIFY_SOCKET=$d/notify.sock WATCHDOG_USEC=1000000 ipsec start"
    IPSEC_ENV="NOTIFY_SOCKET=$d/notify.sock WATCHDOG_USEC=1000000" ipsec_cmd $s start 2>&1 |
      sed 's/^/    /'
  else
    tn_log "$s\$ ipsec start"
    ipsec_cmd $s start 2>&1 | sed 's/^/    /'
  fi
  # pluto forked: the pid file names it, and cleanup stops it whatever happens
  pid=$(cat "$d/run/pluto.pid" 2>/dev/null) || return 1
  _tn_pids="$_tn_pids $pid"
  eval "${s}_PID=$pid"
}

ipsec_ready() { pluto_ready "$1"; }
ipsec_load() { :; }   # pluto added the auto=add conn from ipsec.conf at start

ipsec_initiate() {
  tn_log "$1\$ ipsec up $CONN"
  ipsec_cmd "$1" up "$CONN"
}

ipsec_logs() { cat "$TN_SCRATCH/$1/pluto.log"; }

# ipsec_show SIDE ARGS...: the ipsec command on SIDE, echoed as typed, its output
# indented; the output is also left in $out and the exit status returned.
ipsec_show() {
  _s=$1; shift
  tn_log "$_s\$ ipsec $*"
  out=$(ipsec_cmd "$_s" "$@" 2>&1); _rc=$?
  printf '%s\n' "$out" | sed 's/^/    /'
  return $_rc
}

# ipsec_wait_up SIDE SECS: until `ipsec trafficstatus` on SIDE lists the conn
ipsec_wait_up() {
  i=0
  until ipsec_cmd "$1" trafficstatus 2>/dev/null | grep -q "\"$CONN\""; do
    i=$((i + 1)); [ $i -le $(($2 * 10)) ] || return 1; sleep 0.1
  done
}

# ipsec_traffic_ok: $out (a trafficstatus) counts bytes both ways
ipsec_traffic_ok() {
  inb=$(printf '%s' "$out" | sed -n 's/.*inBytes=\([0-9]*\).*/\1/p' | head -1)
  outb=$(printf '%s' "$out" | sed -n 's/.*outBytes=\([0-9]*\).*/\1/p' | head -1)
  [ "${inb:-0}" -gt 0 ] && [ "${outb:-0}" -gt 0 ]
}

# ipsec_gone SIDE: after `ipsec stop`, the side's pluto has exited
ipsec_gone() {
  pid=$(side_var $1 PID)
  ! kill -0 "$pid" 2>/dev/null
}
