# The body of every pluto-rs interop scenario (testnet/scenarios/pluto-*.sh).
#
# A scenario file sets what it tests and sources this file after lib.sh:
#   WEST, EAST   who runs on each side: pluto (pluto-rs, configured only through
#                whack), strongswan (charon-systemd + swanctl.conf) or libreswan
#                (libreswan 4.10 pluto + ipsec.conf + addconn)
#   INITIATOR    west or east
#   MODE         tunnel4, tunnel6 or transport4
#   DH           x25519 or ecp256 (the IKE SA's key exchange)
#   ESP          gcm (AES-GCM-16, 128-bit key) or cbc (AES-CBC 128 + HMAC-SHA2-256-128)
#   IDS          fqdn (@west/@east, the default), email (west@testnet.example) or ip
#                (the hosts' addresses): the identities' type
#   BADPSK       yes: west (pluto-rs) starts with a wrong PSK; the first initiate must
#                fail and leave no SA, then west gets the right PSK through
#                `whack --rereadsecrets` and the scenario goes on as usual
#   INVALKE      yes: the initiator proposes the other group first (its KE guess), the
#                responder allows only DH: an INVALID_KE_PAYLOAD round trip must
#                happen (two IKE_SA_INIT requests on the wire) and the tunnel come up
#   ENCAP        yes: all sides force UDP encapsulation of ESP (no NAT on the path):
#                the ESP packets on the veth must all be ESP-in-UDP on port 4500
#   END          down (default): `whack --down`; shutdown: `whack --shutdown`, after
#                which that pluto-rs must exit and leave no SA or policy of its own
#
# PASS means, in this order: the initiator's initiate succeeds (`whack --initiate`
# exits 0, `swanctl --initiate` succeeds); pings between the client subnets (transport:
# between the hosts) are all answered; at least 8 ESP packets are seen on the veth;
# every pluto-rs side's `whack --trafficstatus` shows non-zero inBytes and outBytes;
# after `whack --down` on a pluto-rs side neither kernel holds an ESP SA between the
# two hosts (the policies left are logged, not judged). Any failure prints the tail of every daemon's log and both kernels' SAs;
# pass or fail, the whole daemon logs are kept in $TN_WORK/daemon-logs/<scenario>/.
#
# Validating the peer side without pluto-rs: with TN_PLUTO_AS=libreswan (or the UML
# kernel parameter tn_pluto_as=libreswan, e.g. through TESTNET_UML_OPTS) every "pluto"
# side runs libreswan's own pluto, driven by libreswan's whack with the same whack
# commands. A scenario that passes that way and fails with pluto-rs has exactly one
# variable left: pluto-rs.

TN_PEERS=${TN_PEERS:-$(dirname "$TN_LIB")/peers}
. "$TN_PEERS/setup.sh"
setup_topology
setup_daemons

tn_capture west west0 "$TN_SCRATCH/esp.txt"
[ "$INVALKE" = yes ] && tn_capture west west0 "$TN_SCRATCH/ike.txt" udp port 500 or udp port 4500

# --- 0. with a wrong PSK: the initiate fails cleanly, then --rereadsecrets heals --
if [ "$BADPSK" = yes ]; then
  tn_log "west holds a wrong PSK: initiating from $INITIATOR must fail"
  if call $INITIATOR initiate; then
    fail "$INITIATOR: initiate succeeded although west's PSK is wrong"
  fi
  tn_log "initiate failed, as it must"
  for s in west east; do
    n=$(sa_count $s)
    [ "$n" -eq 0 ] || fail "$s holds $n ESP SA(s) after a failed authentication"
  done
  for s in west east; do
    [ "$(kind_of $s)" = pluto ] || continue
    pluto_whack $s --status >/dev/null 2>&1 || fail "$s: pluto-rs no longer answers whack after the failed authentication"
  done
  tn_log "no ESP SA in either kernel; pluto-rs still answers whack"
  pluto_secrets west "$PSK"
  tn_log "west: right PSK written, whack --rereadsecrets"
  pluto_whack west --rereadsecrets || fail "west: whack --rereadsecrets failed"
fi

# --- 1. initiate ----------------------------------------------------------------
tn_log "initiating from $INITIATOR ($(kind_of $INITIATOR))"
call $INITIATOR initiate || fail "$INITIATOR ($(kind_of $INITIATOR)) could not initiate"
tn_log "initiate succeeded"

if [ "$INVALKE" = yes ]; then
  sleep 0.2
  n=$(grep -c 'ikev2_init\[I\]' "$TN_SCRATCH/ike.txt")
  tn_log "IKE_SA_INIT requests on the wire: $n"
  [ "$n" -ge 2 ] || fail "expected an INVALID_KE_PAYLOAD round trip (2 IKE_SA_INIT requests), saw $n request(s)"
fi

# --- 2. ping --------------------------------------------------------------------
tn_in west ping -n -q -c 4 -i 0.2 -W 2 -I "$west_PING" "$east_PING" ||
  fail "ping $west_PING -> $east_PING unanswered"
tn_log "4 pings $west_PING -> $east_PING answered"

# --- 3. ESP on the wire ---------------------------------------------------------
sleep 0.3
n=$(tn_count_esp "$TN_SCRATCH/esp.txt")
tn_log "ESP packets seen on west0: $n"
[ "$n" -ge 8 ] || fail "expected at least 8 ESP packets on west0, saw $n"
if [ "$ENCAP" = yes ]; then
  u=$(grep -c 'UDP-encap: ESP' "$TN_SCRATCH/esp.txt")
  tn_log "of which ESP-in-UDP: $u"
  [ "$u" -eq "$n" ] || fail "encapsulation forced, but only $u of $n ESP packets were ESP-in-UDP"
fi

# --- 4. traffic counters of every pluto-rs side ---------------------------------
for s in west east; do
  [ "$(kind_of $s)" = pluto ] || continue
  out=$(pluto_whack $s --trafficstatus 2>&1)
  printf '%s\n' "$out"
  line=$(printf '%s\n' "$out" | grep "\"$CONN\"" | grep 'inBytes=' | head -1)
  inb=$(printf '%s' "$line" | sed -n 's/.*inBytes=\([0-9]*\).*/\1/p')
  outb=$(printf '%s' "$line" | sed -n 's/.*outBytes=\([0-9]*\).*/\1/p')
  [ "${inb:-0}" -gt 0 ] && [ "${outb:-0}" -gt 0 ] ||
    fail "$s: whack --trafficstatus shows no traffic for \"$CONN\" (inBytes=${inb:-none} outBytes=${outb:-none})"
  tn_log "$s trafficstatus: inBytes=$inb outBytes=$outb"
done

# --- 5. down, and no SA left in either kernel -----------------------------------
# Down on a pluto-rs side; when pluto-rs initiated, on the other pluto-rs side if there
# is one (so the initiator handles the peer's Delete), else on the initiator.
DOWN=
for s in $(other $INITIATOR) $INITIATOR; do
  [ "$(kind_of $s)" = pluto ] && { DOWN=$s; break; }
done
# the SAs the negotiation installed: a pair in each kernel, in the mode asked for
want_mode=tunnel; [ "$TUNNEL" = yes ] || want_mode=transport
for s in west east; do
  n=$(sa_count $s)
  modes=$(ip -n $s xfrm state 2>/dev/null | sed -n 's/.*proto esp .* mode \([a-z]*\).*/\1/p' | sort -u | tr '\n' ' ')
  tn_log "$s kernel holds $n ESP SA(s) of the connection (mode: ${modes% }) and $(pol_count $s) policies before --$END"
  [ "$n" -ge 2 ] || fail "$s: expected an inbound and an outbound ESP SA, found $n"
  [ "${modes% }" = "$want_mode" ] || fail "$s: ESP SAs in mode '${modes% }', expected $want_mode"
done
if [ "$END" = shutdown ]; then
  tn_log "$DOWN: whack --shutdown"
  pluto_shutdown $DOWN || fail "$DOWN: whack --shutdown failed or pluto did not exit within 10 s"
  tn_log "$DOWN: pluto exited"
else
  tn_log "$DOWN: whack --name $CONN --down"
  pluto_down $DOWN || fail "$DOWN: whack --down failed"
fi
gone() { [ "$(sa_count west)" -eq 0 ] && [ "$(sa_count east)" -eq 0 ]; }
i=0
until gone; do
  i=$((i + 1))
  [ $i -le 50 ] || fail "5 s after whack --$END on $DOWN: west holds $(sa_count west), east $(sa_count east) ESP SA(s)"
  sleep 0.1
done
tn_log "after whack --$END on $DOWN: no ESP SA left in either kernel"
if [ "$END" = shutdown ]; then
  # a daemon that shuts down removes the kernel state it owns, policies included
  n=$(pol_count $DOWN)
  [ "$n" -eq 0 ] || fail "$DOWN: $n IPsec policy(ies) for $west_SEL <-> $east_SEL left after whack --shutdown"
fi
# Policies left behind are reported, not judged: libreswan 4.10 itself keeps an
# on-demand (trap) policy after --down of a connection it never routed.
for s in west east; do
  tn_log "$s ($(kind_of $s)) keeps $(pol_count $s) IPsec policy(ies) for $west_SEL <-> $east_SEL after --$END"
done
save_logs
tn_log "PASS"
