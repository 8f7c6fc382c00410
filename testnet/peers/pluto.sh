# A pluto-rs side of a scenario, configured only the way the whack manual's Examples
# section does it: the daemon started with its own run dir, control socket and
# ipsec.secrets (--secretsfile), then one whack connection form, `whack --listen`,
# `whack --initiate`, `whack --trafficstatus`, `whack --down`.
#
# The binaries: $TN_PLUTO_BIN / $TN_WHACK_BIN, else bin/pluto and bin/whack beside
# lib.sh (the xtask copies them there: see xtask/src/testnet.rs).
#
# With PLUTO_AS=libreswan the same side runs libreswan 4.10's pluto and whack instead
# (given the same whack commands), to validate a scenario's other side.

TN_BIN=${TN_BIN:-$(dirname "$TN_LIB")/bin}

pluto_bin() {
  if [ "${PLUTO_AS:-}" = libreswan ]; then echo "$TN_LIBRESWAN/usr/libexec/ipsec/pluto"
  else echo "${TN_PLUTO_BIN:-$TN_BIN/pluto}"; fi
}
whack_bin() {
  if [ "${PLUTO_AS:-}" = libreswan ]; then echo "$TN_LIBRESWAN/usr/libexec/ipsec/whack"
  else echo "${TN_WHACK_BIN:-$TN_BIN/whack}"; fi
}
pluto_version() {
  if [ "${PLUTO_AS:-}" = libreswan ]; then echo "(not used)"
  else "$(pluto_bin)" --version 2>/dev/null | head -1 | sed 's/^pluto-rs //'; fi
}

# pluto_whack SIDE ARGS...: whack on SIDE's control socket
pluto_whack() {
  s=$1; shift
  tn_in "$s" "$(whack_bin)" --ctlsocket "$TN_SCRATCH/$s/run/pluto.ctl" "$@"
}

# pluto_secrets SIDE KEY: write SIDE's ipsec.secrets with the pre-shared key KEY
pluto_secrets() {
  printf '%s %s : PSK "%s"\n' "$(side_var $1 ID)" "$(side_var $(other $1) ID)" "$2" \
    > "$TN_SCRATCH/$1/ipsec.secrets"
  chmod 600 "$TN_SCRATCH/$1/ipsec.secrets"
}

pluto_start() {
  d=$TN_SCRATCH/$1
  mkdir -p "$d/run" "$d/ipsec.d"
  pluto_secrets $1 "$(side_var $1 PSK)"
  if [ "${PLUTO_AS:-}" = libreswan ]; then
    [ -x "$(pluto_bin)" ] || tn_fail "no libreswan in $TN_LIBRESWAN (run testnet/setup.sh)"
    mkdir -p "$d/nss"
    certutil -N -d "sql:$d/nss" --empty-password >/dev/null || return 1
    printf 'config setup\n    plutodebug=none\n' > "$d/ipsec.conf"
    tn_bg tn_in "$1" "$(pluto_bin)" --nofork --stderrlog --config "$d/ipsec.conf" \
      --rundir "$d/run" --nssdir "$d/nss" --ipsecdir "$d/ipsec.d" \
      --secretsfile "$d/ipsec.secrets" --dumpdir "$d/run" >"$d/pluto.log" 2>&1
  else
    [ -x "$(pluto_bin)" ] || tn_fail "no pluto-rs binary at $(pluto_bin)"
    tn_bg tn_in "$1" "$(pluto_bin)" --nofork --stderrlog --rundir "$d/run" \
      --ctlsocket "$d/run/pluto.ctl" \
      --secretsfile "$d/ipsec.secrets" >"$d/pluto.log" 2>&1
  fi
  eval "$1_PID=\$TN_PID"
}

pluto_ready() {
  i=0
  until test -S "$TN_SCRATCH/$1/run/pluto.ctl"; do
    i=$((i + 1)); [ $i -le 100 ] || return 1; sleep 0.1
  done
}

# The connection form, written from this side (the manual: "the command syntax is
# designed to not distinguish which end is ours"), then --listen.
pluto_load() {
  s=$1 o=$(other $1)
  # A connection of the scenario's own added first (<side>_DECOY: its peer's
  # --client), between the same hosts and IDs: the first conn a responder finds by
  # the addresses is then not the one the peer's selectors are for.
  if [ -n "$(side_var $s DECOY)" ]; then
    tn_log "$s: whack --name decoy (the same hosts, peer client $(side_var $s DECOY))"
    pluto_whack $s --name decoy --ikev2 --psk --encrypt --tunnel --ike "$(side_var $s IKE_LS)" \
      --esp "$ESP_LS" --id "$(side_var $s ID)" --host "$(side_var $s HOST)" --updown %disabled \
      --client "$(side_var $s NET)" --to --id "$(side_var $o ID)" --host "$(side_var $o HOST)" \
      --client "$(side_var $s DECOY)" || return 1
  fi
  set -- --name "$CONN" --ikev2 --psk --encrypt --ike "$(side_var $s IKE_LS)" --esp "$ESP_LS"
  # REKEY=no (the interop default): like the peers' rekey=no, nothing revives the
  # connection after the Delete of --down
  [ "$REKEY" = no ] && set -- "$@" --dontrekey
  # a refused authentication is final: one try, so the failing initiate ends
  [ "$BADPSK" = yes ] && set -- "$@" --keyingtries 1
  # (libreswan 4.10's whack spells the manual's --encapsulation as --encaps)
  if [ "$ENCAP" = yes ]; then
    if [ "${PLUTO_AS:-}" = libreswan ]; then set -- "$@" --encaps yes
    else set -- "$@" --encapsulation yes; fi
  fi
  [ "$TUNNEL" = yes ] && set -- "$@" --tunnel
  # the scenario's own options for this side (lifetimes, liveness, shunts), spelled as
  # the manual does; the libreswan 4.10 stand-in gets its own spelling
  for w in $(side_var $s WHACK); do
    if [ "${PLUTO_AS:-}" = libreswan ]; then set -- "$@" $(pluto_ls_spelling "$w")
    else set -- "$@" "$w"; fi
  done
  # the namespaces already route the client subnets (lib.sh's tn_pair): no updown
  set -- "$@" --id "$(side_var $s ID)" --host "$(side_var $s HOST)" --updown %disabled
  [ -n "$(side_var $s NET)" ] && set -- "$@" --client "$(side_var $s NET)"
  set -- "$@" --to --id "$(side_var $o ID)" --host "$(side_var $o HOST)"
  [ -n "$(side_var $o NET)" ] && set -- "$@" --client "$(side_var $o NET)"
  # libreswan 4.10's whack (unlike its ipsec.conf) proposes no ESN transform unless
  # told, and strongSwan/libreswan then answer NO_PROPOSAL_CHOSEN: only the stand-in
  # gets this option, which the manual's whack does not have
  [ "${PLUTO_AS:-}" = libreswan ] && set -- "$@" --no-esn
  tn_log "$s: whack $*"
  pluto_whack $s "$@" || return 1
  pluto_whack $s --listen >/dev/null || return 1
}

# pluto_ls_spelling OPTION: libreswan 4.10's whack for one word of the manual's form:
# IKEv2 liveness there times out through --retransmit-timeout and acts only with a
# --dpdaction (restart: what libreswan 5 does for a connection that was up)
pluto_ls_spelling() {
  case "$1" in
    --dpdtimeout|--timeout) echo --dpdaction restart --retransmit-timeout ;;
    *) echo "$1" ;;
  esac
}

# pluto_route SIDE: `whack --route` (a trap policy: traffic initiates)
pluto_route() {
  tn_log "$1: whack --name $CONN --route"
  pluto_whack $1 --name "$CONN" --route
}

pluto_initiate() {
  tn_log "$1: whack --name $CONN --initiate"
  # bounded, so that a negotiation that never ends still leaves time for the logs
  tn_in "$1" timeout 20 "$(whack_bin)" --ctlsocket "$TN_SCRATCH/$1/run/pluto.ctl" \
    --name "$CONN" --initiate
}

# pluto_down SIDE: `whack --down` (libreswan 4.10's whack calls it --terminate)
pluto_down() {
  if [ "${PLUTO_AS:-}" = libreswan ]; then pluto_whack $1 --name "$CONN" --terminate
  else pluto_whack $1 --name "$CONN" --down; fi
}

# pluto_shutdown SIDE: `whack --shutdown`, then wait (10 s at most) for the daemon to exit
pluto_shutdown() {
  pluto_whack $1 --shutdown || return 1
  pid=$(side_var $1 PID)
  i=0
  while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1)); [ $i -le 100 ] || return 1; sleep 0.1
  done
}

pluto_logs() { cat "$TN_SCRATCH/$1/pluto.log"; }
