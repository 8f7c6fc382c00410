# The lifecycle tier (`cargo xtask testnet lifecycle`): what happens to an established
# connection over time, pluto-rs (always west) against a real peer with real ESP.
# A scenario sets the usual parameters of peers/setup.sh (WEST=pluto, EAST, INITIATOR,
# MODE, DH, ESP and the per-side additions <side>_WHACK, <side>_SWAN_IKE,
# <side>_SWAN_CHILD, <side>_LSW), sources this file and runs one body:
#
#   lc_rekey    REKEYER=pluto|peer. Child SA and IKE SA rekeys by margin while a
#               ping -i 0.2 runs: CHILD_AT/CHILD_EVERY (s after the Child SA came up:
#               when the first and each next Child SA rekey is due), IKE_AT (the first
#               IKE SA rekey, empty: none expected), REKEYS (Child SA rekeys to see, 3).
#               PASS: west's newest Child SA serial (whack --status) changes REKEYS
#               times, the first within -2..+1.5 s of CHILD_AT (the kernel's soft
#               expiry at 90 % of the lifetime is later), each next CHILD_EVERY later; west's outbound ESP SPI changes with it and the
#               first SPIs are gone from both kernels; the IKE SA serial changes within
#               -2..+1.5 s of IKE_AT; pluto-rs logs "initiator rekeyed" (REKEYER=pluto)
#               or "responder rekeyed" (peer) for the Child SAs and the IKE SA; the
#               ping loses at most one packet.
#   lc_expire   west has --dontrekey and --ipseclifetime LIFETIME. PASS: no rekey
#               (Child SA serial and SPIs unchanged, no CREATE_CHILD_SA on the wire)
#               until the hard expiry, then within 3 s no ESP SA of the connection in
#               west's kernel and no Child SA in its --status, and within 5 s none in
#               the peer's (it got the Delete: its own lifetime is hours).
#   lc_dpd      west has --dpddelay DPDDELAY and --dpdtimeout DPDTIMEOUT; the peer
#               (east) is killed with SIGKILL and its kernel state flushed (a crashed
#               host). RESTORE=initiate (west initiated with whack --initiate: it must
#               initiate again by itself), route (west routed, traffic started it: the
#               trap must come back and traffic bring the tunnel up again) or none
#               (west is the responder: the connection is torn down). PASS: liveness
#               probes on the wire, west's IKE SA and ESP SAs gone within
#               DPDDELAY+DPDTIMEOUT+5 s of the kill, then (initiate/route) the peer is
#               restarted and within 30 s the tunnel carries pings again with new SPIs.
#   lc_shunt    SHUNT=pass|drop|reject, PHASE=never (west has --route --SHUNT: a
#               never-negotiate shunt, as libreswan 5's whack makes it; the peer's
#               kernel drops IKE) or failure (west has --route --failSHUNT
#               --keyingtries 1 and a wrong PSK: the peer answers
#               AUTHENTICATION_FAILED). A client host wcl (198.51.100.10, behind west)
#               pings 203.0.113.1. PASS: never: west sent no IKE_SA_INIT at all;
#               failure: west sent IKE_SA_INIT (the trap caught the traffic) and logs
#               AUTHENTICATION_FAILED; then pass: the plain ICMP echo on the veth and the
#               replies back at wcl; drop: not one echo on the veth, no reply and no
#               ICMP error at wcl; reject: an ICMP unreachable from west at wcl and no
#               echo on the veth. After whack --unroute no policy of the connection is
#               left in west's kernel.
#   lc_newchild west initiates; once the tunnel carries pings, whack --down-child
#               removes the Child SA and a second whack --initiate must make a new one
#               over the same IKE SA. PASS: after --down-child no outbound SPI and
#               the IKE SA unchanged; after --initiate a new Child SA serial, still
#               only that IKE SA, pings through, one IKE_SA_INIT and at least one
#               CREATE_CHILD_SA request on the wire.
#
# Every check prints what it saw; a missing behaviour fails with a line saying which.

TN_PEERS=${TN_PEERS:-$(dirname "$TN_LIB")/peers}
. "$TN_PEERS/setup.sh"

# A liveness probe west sends, as tcpdump prints it: an INFORMATIONAL request from
# west to east on 500, or on 4500 once NAT-T floated (strongSwan always floats), with
# the I flag when west was the original initiator and none when it was the responder
# (a response would carry R).
LC_PROBE='192\.0\.2\.1\.(500|4500) > 192\.0\.2\.2\.(500|4500): .*inf2(\[I\])?$'

# --- time -----------------------------------------------------------------------
lc_now() { date +%s.%N; }
# lc_since T: seconds since T, one decimal
lc_since() { echo "$(lc_now) $1" | awk '{printf "%.1f", $1 - $2}'; }
# lc_within X LO HI: LO <= X <= HI (decimals)
lc_within() { echo "$1 $2 $3" | awk '{exit !($1 >= $2 && $1 <= $3)}'; }

# --- what pluto-rs and the kernels hold ----------------------------------------
# lc_serials SIDE KIND: the serials of SIDE's (pluto-rs) states of the connection in
# state ESTABLISHED_<KIND>_SA (CHILD or IKE), oldest first
lc_serials() {
  pluto_whack "$1" --status 2>/dev/null |
    grep "\"$CONN\"" | grep "ESTABLISHED_$2_SA" |
    sed -n 's/^[0-9 ]*#\([0-9]*\):.*/\1/p' | sort -n -u | tr '\n' ' ' | sed 's/ $//'
}
# lc_newest SIDE KIND: the newest such serial (empty: none)
lc_newest() { lc_serials "$1" "$2" | awk '{print $NF}'; }

# lc_spis NS FROM TO: the SPIs of the ESP SAs FROM -> TO in a namespace's kernel (not
# the larval SPI-0 state of a pending ACQUIRE)
lc_spis() {
  ip -n "$1" xfrm state 2>/dev/null |
    awk -v h="src $2 dst $3" '$0 == h {getline; if ($1 == "proto" && $2 == "esp" && $4 != "0x00000000") print $4}' |
    sort -u | tr '\n' ' ' | sed 's/ $//'
}
lc_out_spis() { lc_spis west "$west_HOST" "$east_HOST"; }

# lc_ping_start COUNT: ping -i 0.2 COUNT times from west's client to east's in the
# background (its summary in $TN_SCRATCH/ping.txt); lc_ping_wait waits for it and sets
# PING_SENT, PING_GOT, PING_LOST
lc_ping_start() {
  tn_bg tn_in west ping -n -q -i 0.2 -c "$1" -I "$west_PING" "$east_PING" >"$TN_SCRATCH/ping.txt" 2>&1
  PING_PID=$TN_PID
  tn_log "continuous ping: $1 echoes at 0.2 s from $west_PING to $east_PING"
}
lc_ping_wait() {
  wait "$PING_PID" 2>/dev/null
  cat "$TN_SCRATCH/ping.txt"
  PING_SENT=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$TN_SCRATCH/ping.txt")
  PING_GOT=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$TN_SCRATCH/ping.txt")
  [ -n "$PING_SENT" ] && [ -n "$PING_GOT" ] || fail "the continuous ping printed no summary"
  PING_LOST=$((PING_SENT - PING_GOT))
}

# lc_kill SIDE: SIGKILL the IKE daemon(s) running in SIDE's namespace (by pid, found
# through `ip netns pids`), then flush that kernel's SAs and policies: a crashed host
lc_kill() {
  killed=
  for p in $(ip netns pids "$1" 2>/dev/null); do
    case "$(cat /proc/$p/comm 2>/dev/null)" in
      pluto|charon-systemd|charon) kill -9 "$p" && killed="$killed $p" ;;
    esac
  done
  [ -n "$killed" ] || fail "$1: no IKE daemon found to kill"
  ip -n "$1" xfrm state flush; ip -n "$1" xfrm policy flush
  tn_log "$1 ($(kind_of $1)): SIGKILL to pid$killed; its kernel's SAs and policies flushed"
}

# lc_restart SIDE: start a killed side again (start, ready, load)
lc_restart() {
  call $1 start || fail "$1 ($(kind_of $1)) did not start again"
  call $1 ready || fail "$1 ($(kind_of $1)) did not become ready again"
  call $1 load || fail "$1 ($(kind_of $1)) refused the connection after the restart"
  tn_log "$1 ($(kind_of $1)) restarted and loaded"
}

# lc_logcount SIDE PATTERN: matching lines in SIDE's daemon log
lc_logcount() { call "$1" logs 2>/dev/null | grep -c -E "$2"; }

lc_pass() { save_logs; tn_log "PASS"; exit 0; }

# --- rekeying by margin, with a continuous ping ----------------------------------
lc_rekey() {
  : "${REKEYER:?REKEYER=pluto or peer}" "${CHILD_AT:?}" "${CHILD_EVERY:?}"
  IKE_AT=${IKE_AT:-} REKEYS=${REKEYS:-3}
  setup_topology
  setup_daemons
  tn_capture west west0 "$TN_SCRATCH/ike.txt" udp port 500 or udp port 4500
  call $INITIATOR initiate || fail "$INITIATOR ($(kind_of $INITIATOR)) could not initiate"
  t0=$(lc_now)
  tn_wait_for 5 test -n "$(lc_newest west CHILD)"
  child0=$(lc_newest west CHILD) ike0=$(lc_newest west IKE) spi0=$(lc_out_spis)
  in0=$(lc_spis west "$east_HOST" "$west_HOST")
  tn_log "established: IKE SA #$ike0, Child SA #$child0, west's outbound SPI $spi0, inbound $in0"
  last=$(echo "$CHILD_AT $CHILD_EVERY $REKEYS" | awk '{printf "%d", $1 + $2 * ($3 - 1)}')
  dur=$((last + 6))
  [ -n "$IKE_AT" ] && [ "${IKE_AT%.*}" -ge "$dur" ] && dur=$((${IKE_AT%.*} + 6))
  lc_ping_start $((dur * 5))
  tn_log "watching for ${dur}s: $REKEYS Child SA rekeys expected at ${CHILD_AT}s + n*${CHILD_EVERY}s${IKE_AT:+, the IKE SA rekey at ${IKE_AT}s} ($REKEYER rekeys)"
  child=$child0 ike=$ike0 spi=$spi0 nchild=0 nike=0 nspi=0 childtimes= iketimes=
  while lc_within "$(lc_since "$t0")" 0 "$dur"; do
    sleep 0.5
    t=$(lc_since "$t0")
    c=$(lc_newest west CHILD) i=$(lc_newest west IKE) sp=$(lc_out_spis)
    if [ -n "$c" ] && [ "$c" != "$child" ]; then
      nchild=$((nchild + 1)) childtimes="$childtimes $t"
      tn_log "t=${t}s: Child SA rekeyed #$child -> #$c (states now: $(lc_serials west CHILD))"
      child=$c
    fi
    if [ -n "$i" ] && [ "$i" != "$ike" ]; then
      nike=$((nike + 1)) iketimes="$iketimes $t"
      tn_log "t=${t}s: IKE SA rekeyed #$ike -> #$i"
      ike=$i
    fi
    if [ -n "$sp" ] && [ "$sp" != "$spi" ]; then
      nspi=$((nspi + 1)); tn_log "t=${t}s: west's outbound ESP SPI(s) now $sp"; spi=$sp
    fi
  done
  lc_ping_wait
  tn_log "seen: $nchild Child SA rekeys at${childtimes:- (none)} s, $nike IKE SA rekeys at${iketimes:- (none)} s, $nspi outbound SPI changes; ping lost $PING_LOST of $PING_SENT"

  # rekeys that failed, as west logged them (the reason of a failure below)
  refused=$(call west logs 2>/dev/null | grep -E 'rekey of (Child|IKE) SA .* failed' | head -2 |
    sed 's/^ *[A-Z]* //' | tr '\n' ' ')
  [ -z "$refused" ] || tn_log "west's log: $refused"
  # when the rekeys came: each one seen on time, then all of them seen
  n=0
  for t in $childtimes; do
    want=$(echo "$CHILD_AT $CHILD_EVERY $n" | awk '{print $1 + $2 * $3}')
    lc_within "$t" "$(echo "$want" | awk '{print $1 - 2}')" "$(echo "$want" | awk '{print $1 + 1.5}')" ||
      fail "Child SA rekey $((n + 1)) at ${t}s, due by the margin at ${want}s (-2..+1.5 s): not rekeyed by the margin${refused:+ ($refused)}"
    n=$((n + 1)); [ $n -lt "$REKEYS" ] || break
  done
  [ "$nchild" -ge "$REKEYS" ] ||
    fail "$nchild Child SA rekey(s) in ${dur}s, expected $REKEYS (the first due at ${CHILD_AT}s): $REKEYER did not rekey the Child SA in time${refused:+ ($refused)}"
  if [ -n "$IKE_AT" ]; then
    first=$(echo "$iketimes" | awk '{print $1}')
    [ -n "$first" ] || fail "the IKE SA was never rekeyed (due at ${IKE_AT}s): $REKEYER did not rekey the IKE SA"
    lc_within "$first" "$(echo "$IKE_AT" | awk '{print $1 - 2}')" "$(echo "$IKE_AT" | awk '{print $1 + 1.5}')" ||
      fail "IKE SA rekey at ${first}s, due by the margin at ${IKE_AT}s (-2..+1.5 s): not rekeyed by --rekeymargin"
  fi
  # the kernels: new SPIs, the first pair gone from both sides
  [ "$nspi" -ge "$REKEYS" ] || fail "west's outbound ESP SPI changed $nspi time(s) for $nchild Child SA rekeys"
  for s in west east; do
    for x in $spi0 $in0; do
      ip -n $s xfrm state 2>/dev/null | grep -q "spi $x " &&
        fail "$s still holds the first Child SA's ESP SA (SPI $x) after $nchild rekeys: the old SA was not deleted"
    done
  done
  tn_log "the first Child SA's SPIs ($spi0 / $in0) are gone from both kernels"
  # the logs: who rekeyed
  if [ "$REKEYER" = pluto ]; then role=initiator; else role=responder; fi
  n=$(lc_logcount west "$role rekeyed Child SA")
  tn_log "west's log: $n \"$role rekeyed Child SA\" line(s)"
  [ "$n" -ge "$REKEYS" ] || fail "west logged $n \"$role rekeyed Child SA\" lines for $nchild rekeys (REKEYER=$REKEYER)"
  if [ -n "$IKE_AT" ]; then
    n=$(lc_logcount west "$role rekeyed IKE SA")
    tn_log "west's log: $n \"$role rekeyed IKE SA\" line(s)"
    [ "$n" -ge 1 ] || fail "west logged no \"$role rekeyed IKE SA\" line (REKEYER=$REKEYER)"
  fi
  # the traffic
  [ "$PING_GOT" -gt 0 ] || fail "the continuous ping got no answer at all"
  [ "$PING_LOST" -le 1 ] || fail "the continuous ping lost $PING_LOST of $PING_SENT echoes across $nchild rekeys (at most 1 allowed)"
  tn_log "the continuous ping lost $PING_LOST of $PING_SENT echoes across $nchild Child SA and $nike IKE SA rekeys"
  lc_pass
}

# --- --dontrekey: the SA runs out -------------------------------------------------
lc_expire() {
  : "${LIFETIME:?}"
  setup_topology
  setup_daemons
  tn_capture west west0 "$TN_SCRATCH/ike.txt" udp port 500 or udp port 4500
  call $INITIATOR initiate || fail "$INITIATOR ($(kind_of $INITIATOR)) could not initiate"
  t0=$(lc_now)
  tn_wait_for 5 test -n "$(lc_newest west CHILD)"
  child0=$(lc_newest west CHILD) spi0=$(lc_out_spis)
  tn_ping west "$west_PING" "$east_PING" 3
  tn_log "established: Child SA #$child0, west's outbound SPI $spi0; lifetime ${LIFETIME}s, --dontrekey"
  # until just before the hard expiry: the same SA, no rekey
  while lc_within "$(lc_since "$t0")" 0 "$((LIFETIME - 1))"; do
    c=$(lc_newest west CHILD) sp=$(lc_out_spis)
    if [ -n "$c" ] && [ "$c" != "$child0" ]; then
      fail "t=$(lc_since "$t0")s: Child SA #$child0 replaced by #$c although west has --dontrekey"
    fi
    [ -z "$sp" ] || [ "$sp" = "$spi0" ] ||
      fail "t=$(lc_since "$t0")s: west's outbound SPI changed $spi0 -> $sp although west has --dontrekey"
    sleep 0.5
  done
  # the hard expiry: gone from west within 3 s, from the peer within 5 s
  while [ -n "$(lc_out_spis)" ] || [ -n "$(lc_newest west CHILD)" ]; do
    lc_within "$(lc_since "$t0")" 0 "$((LIFETIME + 3))" ||
      fail "t=$(lc_since "$t0")s: west still holds the Child SA (#$(lc_newest west CHILD), SPI $(lc_out_spis)) after its ${LIFETIME}s lifetime"
    sleep 0.2
  done
  tn_log "t=$(lc_since "$t0")s: the Child SA is gone from west's kernel and --status"
  until [ "$(sa_count east)" -eq 0 ]; do
    lc_within "$(lc_since "$t0")" 0 "$((LIFETIME + 5))" ||
      fail "t=$(lc_since "$t0")s: the peer ($EAST) still holds $(sa_count east) ESP SA(s): it got no Delete for the expired Child SA"
    sleep 0.2
  done
  tn_log "t=$(lc_since "$t0")s: the peer ($EAST) holds no ESP SA any more (its own lifetime is hours: it got the Delete)"
  # (tcpdump names the exchange after the flags: "child_sa  child_sa[I]" is a
  # CREATE_CHILD_SA request, "child_sa  ikev2_auth[I]" an IKE_AUTH one)
  n=$(grep -c 'child_sa\[[IR]' "$TN_SCRATCH/ike.txt")
  [ "$n" -eq 0 ] || fail "$n CREATE_CHILD_SA message(s) on the wire although west has --dontrekey"
  tn_log "no CREATE_CHILD_SA on the wire; west's IKE SA(s) left: $(lc_serials west IKE)"
  lc_pass
}

# --- a new Child SA over the IKE SA that is up ------------------------------------
lc_newchild() {
  setup_topology
  setup_daemons
  tn_capture west west0 "$TN_SCRATCH/ike.txt" udp port 500 or udp port 4500
  call west initiate || fail "west could not initiate"
  tn_wait_for 5 test -n "$(lc_newest west CHILD)"
  tn_ping west "$west_PING" "$east_PING" 3
  ike0=$(lc_newest west IKE) child0=$(lc_newest west CHILD) spi0=$(lc_out_spis)
  tn_log "established: IKE SA #$ike0, Child SA #$child0, west's outbound SPI $spi0"
  pluto_whack west --name "$CONN" --down-child || fail "west: whack --down-child failed"
  tn_wait_for 5 test -z "$(lc_out_spis)" ||
    fail "west still holds outbound SPI $(lc_out_spis) after --down-child"
  [ "$(lc_newest west IKE)" = "$ike0" ] ||
    fail "the IKE SA went with its Child SA (IKE SAs: $(lc_serials west IKE))"
  tn_log "--down-child: the Child SA is gone, IKE SA #$ike0 stays"
  pluto_whack west --name "$CONN" --initiate || fail "west: the second whack --initiate failed"
  child1=$(lc_newest west CHILD) spi1=$(lc_out_spis)
  [ -n "$child1" ] && [ "$child1" != "$child0" ] ||
    fail "no new Child SA after the second --initiate (Child SAs: $(lc_serials west CHILD))"
  [ "$(lc_serials west IKE)" = "$ike0" ] ||
    fail "the second --initiate made another IKE SA (IKE SAs: $(lc_serials west IKE)) instead of using #$ike0"
  tn_ping west "$west_PING" "$east_PING" 3
  inits=$(grep -c 'ikev2_init\[I\]' "$TN_SCRATCH/ike.txt")
  creates=$(grep -c 'child_sa  child_sa\[I\]' "$TN_SCRATCH/ike.txt")
  [ "$inits" -eq 1 ] || fail "$inits IKE_SA_INIT requests on the wire, want 1"
  [ "$creates" -ge 1 ] || fail "no CREATE_CHILD_SA request on the wire"
  tn_log "Child SA #$child1 (SPI $spi1) made over IKE SA #$ike0 with CREATE_CHILD_SA; one IKE_SA_INIT in all; the tunnel carries pings"
  lc_pass
}

# --- two connections between the same gateways: the responder picks by selectors ---
# west (pluto-rs, responder) has a decoy conn to another east client added before the
# scenario's one; east initiates the scenario's conn. PASS: west logs the switch from
# the decoy to the conn, the Child SA is up on it and carries pings.
lc_twoconns() {
  setup_topology
  setup_daemons
  call east initiate || fail "east could not initiate"
  tn_wait_for 5 test -n "$(lc_newest west CHILD)" || fail "no Child SA on west"
  call west logs | grep -q "switched from \"decoy\" to \"$CONN\" for the proposed traffic selectors" ||
    fail "west did not switch from the decoy to $CONN"
  tn_ping east "$east_PING" "$west_PING" 3
  pluto_whack west --trafficstatus | grep -q "\"$CONN\"" ||
    fail "west's --trafficstatus has no Child SA of $CONN"
  tn_log "west answered with the decoy's IKE SA, switched to $CONN for the selectors; the tunnel carries pings"
  lc_pass
}

# --- liveness: the peer crashes, and comes back -----------------------------------
lc_dpd() {
  : "${DPDDELAY:?}" "${DPDTIMEOUT:?}" "${RESTORE:?initiate, route or none}"
  setup_topology
  setup_daemons
  tn_capture west west0 "$TN_SCRATCH/ike.txt" udp port 500 or udp port 4500
  if [ "$RESTORE" = route ]; then
    pluto_route west || fail "west: whack --route failed"
    tn_log "traffic brings the routed connection up"
    tn_wait_for 15 tn_in west ping -n -q -c 1 -W 1 -I "$west_PING" "$east_PING"
  else
    call $INITIATOR initiate || fail "$INITIATOR ($(kind_of $INITIATOR)) could not initiate"
  fi
  tn_wait_for 5 test -n "$(lc_newest west CHILD)"
  tn_ping west "$west_PING" "$east_PING" 3
  ike0=$(lc_newest west IKE) spi0=$(lc_out_spis)
  tn_log "established: IKE SA #$ike0, west's outbound SPI $spi0; liveness: dpddelay ${DPDDELAY}s, timeout ${DPDTIMEOUT}s"
  lc_kill east
  tk=$(lc_now)
  lines0=$(wc -l < "$TN_SCRATCH/ike.txt")
  limit=$((DPDDELAY + DPDTIMEOUT + 5))
  until ! lc_serials west IKE | grep -q -w "$ike0" && [ -z "$(lc_out_spis)" ]; do
    lc_within "$(lc_since "$tk")" 0 "$limit" ||
      fail "$(lc_since "$tk")s after the peer died west still holds IKE SA #$ike0 ($(lc_serials west IKE)) / outbound SPI $(lc_out_spis), after $(tail -n +"$((lines0 + 1))" "$TN_SCRATCH/ike.txt" | grep -c -E "$LC_PROBE") liveness probe(s): the peer was not declared dead within dpddelay+dpdtimeout+5 s"
    sleep 0.25
  done
  tdead=$(lc_since "$tk")
  probes=$(tail -n +"$((lines0 + 1))" "$TN_SCRATCH/ike.txt" | grep -c -E "$LC_PROBE")
  tn_log "t=${tdead}s after the kill: west dropped IKE SA #$ike0 and its ESP SAs; $probes liveness probe(s) on the wire"
  [ "$probes" -ge 1 ] || fail "west dropped the IKE SA without a liveness probe on the wire"
  lc_within "$tdead" "$DPDDELAY" "$limit" ||
    fail "west dropped the IKE SA ${tdead}s after the kill, before dpddelay (${DPDDELAY}s) could have run"
  case "$RESTORE" in
    none)
      sleep 1
      n=$(pol_count west)
      tn_log "west keeps $n IPsec policy(ies) of the connection; IKE SAs: $(lc_serials west IKE)"
      [ -z "$(lc_serials west CHILD)" ] || fail "west still lists a Child SA of the dead peer"
      lc_pass ;;
    route)
      n=$(pol_count west)
      tn_log "west's kernel: $n policy(ies) of the connection, $(sa_count west) ESP SA(s) (the trap)"
      [ "$n" -ge 1 ] || fail "the routed connection did not fall back to its trap: no policy of $west_SEL <-> $east_SEL left in west's kernel"
      ;;
  esac
  sleep 2
  lc_restart east
  tb=$(lc_now)
  if [ "$RESTORE" = route ]; then
    tn_log "traffic must bring the tunnel up again through the trap"
    tn_wait_for 30 tn_in west ping -n -q -c 1 -W 1 -I "$west_PING" "$east_PING"
  else
    tn_log "west must initiate again by itself (no whack command)"
    until [ -n "$(lc_out_spis)" ] && [ -n "$(lc_newest west CHILD)" ]; do
      lc_within "$(lc_since "$tb")" 0 30 ||
        fail "30 s after the peer came back west has not re-established the connection (IKE SAs: $(lc_serials west IKE); IKE_SA_INIT requests since the kill: $(tail -n +"$((lines0 + 1))" "$TN_SCRATCH/ike.txt" | grep -c 'ikev2_init\[I\]'))"
      sleep 0.5
    done
  fi
  tn_ping west "$west_PING" "$east_PING" 3
  spi1=$(lc_out_spis)
  [ "$spi1" != "$spi0" ] || fail "the tunnel works with the old SPI $spi0: nothing was restored"
  tn_log "$(lc_since "$tb")s after the peer came back: IKE SA #$(lc_newest west IKE), outbound SPI $spi1, pings answered"
  lc_pass
}

# --- shunts on the wire -----------------------------------------------------------
# wcl: a client host of west's subnet, 198.51.100.10 on a veth to west's 198.51.100.254
lc_client() {
  tn_netns wcl
  tn_link wcl wcl0 198.51.100.10/24 west west1 198.51.100.254/24
  ip -n wcl route add default via 198.51.100.254
  tn_in west sysctl -q -w net.ipv4.ip_forward=1
}

lc_shunt() {
  : "${SHUNT:?pass, drop or reject}" "${PHASE:?never or failure}"
  setup_topology
  lc_client
  if [ "$PHASE" = never ]; then
    # a peer that never answers: its kernel drops IKE
    for p in 500 4500; do
      ip -n east xfrm policy add dir in src 192.0.2.1/32 dst 192.0.2.2/32 proto udp dport $p action block ||
        fail "east: cannot add the IKE-dropping policy"
    done
    tn_log "east's kernel drops all IKE (udp 500, 4500) from west"
  fi
  setup_daemons
  tn_capture west west0 "$TN_SCRATCH/ike.txt" udp port 500 or udp port 4500
  pluto_route west || fail "west: whack --route failed"
  if [ "$PHASE" = failure ]; then
    tn_log "one packet from wcl hits the trap; the negotiation must fail (wrong PSK)"
    tn_in wcl ping -n -q -c 1 -W 1 203.0.113.1 >/dev/null 2>&1
    sleep 3
    [ "$(sa_count west)" -eq 0 ] || fail "west holds an ESP SA although its PSK is wrong"
  fi
  tn_capture west west0 "$TN_SCRATCH/veth.txt" icmp
  tn_capture wcl wcl0 "$TN_SCRATCH/client.txt" icmp
  tn_in wcl ping -n -c 10 -i 0.2 -W 1 203.0.113.1 >"$TN_SCRATCH/ping.txt" 2>&1
  sleep 0.5
  tn_log "wcl's ping:"; tail -3 "$TN_SCRATCH/ping.txt"
  tn_log "west's --shuntstatus:"; pluto_whack west --shuntstatus 2>&1 | head -10
  inits=$(grep -c 'ikev2_init\[I\]' "$TN_SCRATCH/ike.txt")
  echo_veth=$(grep -c '198.51.100.10 > 203.0.113.1: ICMP echo request' "$TN_SCRATCH/veth.txt")
  sent=$(grep -c '198.51.100.10 > 203.0.113.1: ICMP echo request' "$TN_SCRATCH/client.txt")
  replies=$(grep -c '203.0.113.1 > 198.51.100.10: ICMP echo reply' "$TN_SCRATCH/client.txt")
  unreach=$(grep -c ' > 198.51.100.10: ICMP .*unreachable' "$TN_SCRATCH/client.txt")
  esp=$(tn_count_esp "$TN_SCRATCH/ike.txt")
  tn_log "IKE_SA_INIT requests from west: $inits; wcl sent $sent echoes; on the veth: $echo_veth plain echoes; back at wcl: $replies replies, $unreach ICMP unreachable"
  [ "$sent" -ge 8 ] || fail "wcl sent only $sent echoes"
  if [ "$PHASE" = never ]; then
    [ "$inits" -eq 0 ] || fail "west sent $inits IKE_SA_INIT request(s) for a never-negotiate shunt (--$SHUNT)"
  else
    [ "$inits" -ge 1 ] || fail "west never started a negotiation: the trap did not catch the traffic"
  fi
  if [ "$PHASE" = failure ]; then
    n=$(lc_logcount west 'AUTHENTICATION_FAILED')
    [ "$n" -ge 1 ] || fail "west's log does not show the failed negotiation (AUTHENTICATION_FAILED)"
    what="the failure shunt (--fail$SHUNT)"
  else
    what="the never-negotiate shunt (--$SHUNT)"
  fi
  case "$SHUNT" in
    pass)
      [ "$echo_veth" -ge 7 ] || fail "$what: $echo_veth of $sent echoes crossed the veth in clear text"
      [ "$replies" -ge 7 ] || fail "$what: $replies of $sent echoes answered"
      ;;
    drop)
      [ "$echo_veth" -eq 0 ] || fail "$what: $echo_veth echoes crossed the veth in clear text"
      [ "$replies" -eq 0 ] || fail "$what: $replies echoes answered"
      [ "$unreach" -eq 0 ] || fail "$what: $unreach ICMP unreachable came back (drop is silent)"
      ;;
    reject)
      [ "$echo_veth" -eq 0 ] || fail "$what: $echo_veth echoes crossed the veth in clear text"
      [ "$replies" -eq 0 ] || fail "$what: $replies echoes answered"
      [ "$unreach" -ge 1 ] || fail "$what: no ICMP unreachable came back to the sender (silence, like a drop)"
      grep ' > 198.51.100.10: ICMP .*unreachable' "$TN_SCRATCH/client.txt" | head -2
      ;;
  esac
  [ "$esp" -eq 0 ] || fail "$esp ESP packets on the veth although no Child SA can exist"
  tn_log "$what is what the wire shows"
  pluto_whack west --name "$CONN" --unroute || fail "west: whack --unroute failed"
  sleep 0.5
  n=$(pol_count west)
  [ "$n" -eq 0 ] || fail "after --unroute west's kernel still holds $n policy(ies) of the connection (the shunt stayed)"
  tn_log "after --unroute no policy of the connection is left in west's kernel"
  lc_pass
}
