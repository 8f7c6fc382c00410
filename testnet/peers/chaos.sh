# The hostile tier's chaos bodies (`cargo xtask testnet hostile`): pluto-rs (west)
# against a real peer with real ESP, on a bad network or through crashes. A scenario
# sets peers/setup.sh's parameters (NETEM for the network), sources this file and
# runs one body:
#
#   ch_churn    west initiates with --ipseclifetime 30 --ikelifetime 40
#               --rekeymargin 10 --rekeyfuzz 0 over NETEM. PASS: the tunnel forms
#               (whack --initiate, retried up to 3 times: a loss can exhaust one
#               attempt), the Child SA serial changes (a rekey) and the IKE SA serial
#               changes within 60 s of the start; a ping -i 0.5 of 40 echoes gets at
#               least half through; whack --down leaves no ESP SA of the connection in
#               either kernel within 15 s (the peer got the Delete, retransmitted as
#               needed).
#   ch_crash    west initiates (no NETEM: the 10 s bound is about pluto-rs, not
#               about a lossy net); once pings pass, `whack --rekey-ike` and at once
#               SIGKILL of west's pluto, leaving its SAs and policies in the kernel.
#               PASS: they are still there after the kill; a new pluto logs that it
#               removed its predecessor's SAs and policies, and after the restart
#               (start, load, whack --initiate) the tunnel carries pings within 10 s;
#               5 s later the peer holds exactly PEER_IKE_SAS (default 1) IKE SAs of
#               the connection (INITIAL_CONTACT made it drop the dead one).
#               CRASH_REKEY=no: the kill without the rekey before it.
#
# The peer's SIGKILL (liveness) is lifecycle.sh's lc_dpd over NETEM.

TN_PEERS=${TN_PEERS:-$(dirname "$TN_LIB")/peers}
. "$TN_PEERS/lifecycle.sh"

# ch_peer_ike_sas: how many IKE SAs of the connection the peer (east) holds
ch_peer_ike_sas() {
  case "$EAST" in
    strongswan)
      tn_in east swanctl --list-sas --uri "unix://$TN_SCRATCH/east/vici" --ike "$CONN" 2>/dev/null |
        grep -c "^$CONN: #[0-9]*, ESTABLISHED" ;;
    libreswan)
      tn_in east "$TN_LIBRESWAN/usr/libexec/ipsec/whack" --ctlsocket "$TN_SCRATCH/east/run/pluto.ctl" \
        --showstates 2>/dev/null | grep "\"$CONN\"" | grep -c 'ESTABLISHED_IKE_SA' ;;
  esac
}

# ch_initiate TRIES: west's whack --initiate until it succeeds
ch_initiate() {
  i=0
  until call west initiate; do
    i=$((i + 1)); [ $i -lt "$1" ] || return 1
    tn_log "initiate attempt $i failed; again"
  done
}

ch_churn() {
  west_WHACK="$west_WHACK --ipseclifetime 30 --ikelifetime 40 --rekeymargin 10 --rekeyfuzz 0"
  setup_topology
  setup_daemons
  t0=$(lc_now)
  ch_initiate 3 || fail "west could not establish the tunnel over netem ($NETEM)"
  tup=$(lc_since "$t0")
  child0=$(lc_newest west CHILD) ike0=$(lc_newest west IKE)
  echo "FIGURE established in ${tup}s: IKE SA #$ike0, Child SA #$child0"
  lc_ping_start 40
  # Child SA rekey at 20 s, IKE SA rekey at 30 s after they came up
  until [ "$(lc_newest west IKE)" != "$ike0" ] && [ "$(lc_newest west CHILD)" != "$child0" ] &&
        [ -n "$(lc_newest west CHILD)" ]; do
    lc_within "$(lc_since "$t0")" 0 60 ||
      fail "60 s after the start: IKE SA $(lc_serials west IKE) (first #$ike0), Child SA $(lc_serials west CHILD) (first #$child0): not both rekeyed"
    sleep 0.5
  done
  echo "FIGURE rekeyed by $(lc_since "$t0")s: IKE SA #$ike0 -> #$(lc_newest west IKE), Child SA #$child0 -> #$(lc_newest west CHILD)"
  lc_ping_wait
  echo "FIGURE ping $PING_GOT of $PING_SENT through"
  [ $((PING_GOT * 2)) -ge "$PING_SENT" ] || fail "only $PING_GOT of $PING_SENT echoes through the tunnel"
  tn_log "rekeys ($(lc_logcount west 'initiator rekeyed') 'initiator rekeyed' lines); whack --down"
  td=$(lc_now)
  pluto_down west || fail "whack --down failed"
  until [ "$(sa_count west)" = 0 ] && [ "$(sa_count east)" = 0 ]; do
    lc_within "$(lc_since "$td")" 0 15 ||
      fail "15 s after whack --down: $(sa_count west) ESP SA(s) in west's kernel, $(sa_count east) in east's"
    sleep 0.5
  done
  echo "FIGURE deleted in both kernels $(lc_since "$td")s after whack --down"
  lc_pass
}

ch_crash() {
  setup_topology
  setup_daemons
  ch_initiate 1 || fail "west could not establish the tunnel"
  tn_ping west "$west_PING" "$east_PING" 3
  ike0=$(lc_newest west IKE)
  if [ "${CRASH_REKEY:-yes}" = yes ]; then
    pluto_whack west --name "$CONN" --rekey-ike > /dev/null 2>&1 &
    sleep 0.05
  fi
  # by pid from the namespace (tn_bg's is a wrapper's); unlike lc_kill, the kernel
  # state stays: it is what the restart must clean up
  pid=""
  for p in $(ip netns pids west 2>/dev/null); do
    [ "$(cat /proc/$p/comm 2>/dev/null)" = pluto ] && pid=$p
  done
  [ -n "$pid" ] || fail "west: no pluto process to kill"
  kill -9 "$pid" || fail "cannot kill west's pluto (pid $pid)"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  sas=$(sa_count west) pols=$(pol_count west)
  tn_log "west's pluto SIGKILLed (pid $pid) during the rekey of IKE SA #$ike0: $sas ESP SA(s) and $pols policy(ies) left in its kernel"
  [ "$sas" -ge 2 ] || fail "the killed pluto left no SA in the kernel: nothing to recover"
  tr=$(lc_now)
  # the dead daemon's control socket is still there (its pid file too: that is what
  # tells the new one it crashed); ready must wait for the new daemon's
  rm -f "$TN_SCRATCH/west/run/pluto.ctl"
  call west start || fail "west did not start again"
  call west ready || fail "west did not become ready again"
  i=0
  until call west logs | grep -E "did not shut down cleanly: removed the [0-9]+ SA\\(s\\) and [0-9]+ policy"; do
    i=$((i + 1)); [ $i -le 50 ] || fail "the new pluto did not say it removed its predecessor's state"
    sleep 0.1
  done
  [ "$(sa_count west)" = 0 ] || fail "$(sa_count west) ESP SA(s) of the dead pluto still in the kernel after the restart"
  call west load || fail "west refused the connection after the restart"
  ch_initiate 2 || fail "west could not establish the tunnel again"
  tn_wait_for 10 tn_in west ping -n -q -c 1 -W 1 -I "$west_PING" "$east_PING"
  tback=$(lc_since "$tr")
  echo "FIGURE tunnel back ${tback}s after the restart"
  lc_within "$tback" 0 10 || fail "the tunnel came back ${tback}s after the restart, not within 10 s"
  sleep 5
  n=$(ch_peer_ike_sas)
  echo "FIGURE peer holds $n IKE SA(s) of $CONN"
  [ "$n" = "${PEER_IKE_SAS:-1}" ] || fail "the peer holds $n IKE SAs of $CONN, not ${PEER_IKE_SAS:-1}"
  lc_pass
}
