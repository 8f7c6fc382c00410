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
  tn_in "$s" env IPSEC_EXECDIR="$TN_BIN" "$(ipsec_bin)" --rundir "$d/run" \
    --config "$d/ipsec.conf" "$@"
}

ipsec_start() {
  s=$1 o=$(other $1) d=$TN_SCRATCH/$1
  mkdir -p "$d/run"
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
    printf '\tleftupdown=%%disabled\n\trekey=no\n\tauto=add\n'
  } > "$d/ipsec.conf"
  tn_log "$s: $d/ipsec.conf:"
  sed 's/^/    /' "$d/ipsec.conf"
  tn_log "$s\$ ipsec start"
  ipsec_cmd $s start 2>&1 | sed 's/^/    /'
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
