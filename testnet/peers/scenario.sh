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
. "$TN_PEERS/pluto.sh"
. "$TN_PEERS/strongswan.sh"
. "$TN_PEERS/libreswan.sh"

PLUTO_AS=${tn_pluto_as:-${TN_PLUTO_AS:-}}
CONN=west-east
PSK="pluto-rs-testnet-psk-4f1e9c2b7a"
# BADPSK=yes: west (always pluto-rs) starts with a wrong pre-shared key
BADPSK=${BADPSK:-no}
# INVALKE=yes: the initiator's first KE is for a group the responder refuses
INVALKE=${INVALKE:-no}
# ENCAP=yes: every side forces ESP-in-UDP (RFC 3948) although there is no NAT
ENCAP=${ENCAP:-no}
# END=down (default) or shutdown: how the pluto-rs side ends the tunnel
END=${END:-down}
case "$END" in down|shutdown) ;; *) tn_fail "END=$END: down or shutdown" ;; esac
west_PSK=$PSK east_PSK=$PSK
[ "$BADPSK" = yes ] && west_PSK="wrong-$PSK"

case "$WEST/$EAST" in
  pluto/*|*/pluto) ;;
  *) tn_fail "scenario has no pluto-rs side (WEST=$WEST EAST=$EAST)" ;;
esac
case "$INITIATOR" in west|east) ;; *) tn_fail "INITIATOR=$INITIATOR: west or east" ;; esac

# --- what the parameters mean for each implementation ------------------------------
case "$DH" in
  x25519) IKE_LS=aes256-sha2_256-dh31 IKE_SS=aes256-sha256-x25519
          ALT_LS=aes256-sha2_256-dh19 ALT_SS=aes256-sha256-ecp256 ;;
  ecp256) IKE_LS=aes256-sha2_256-dh19 IKE_SS=aes256-sha256-ecp256
          ALT_LS=aes256-sha2_256-dh31 ALT_SS=aes256-sha256-x25519 ;;
  *) tn_fail "DH=$DH: x25519 or ecp256" ;;
esac
# per side; with INVALKE=yes the initiator first proposes (and sends a KE for) the other
# group, which the responder does not allow: it must answer INVALID_KE_PAYLOAD and the
# initiator retry with DH
west_IKE_LS=$IKE_LS west_IKE_SS=$IKE_SS east_IKE_LS=$IKE_LS east_IKE_SS=$IKE_SS
if [ "$INVALKE" = yes ]; then
  eval "${INITIATOR}_IKE_LS=\"$ALT_LS,$IKE_LS\" ${INITIATOR}_IKE_SS=\"$ALT_SS, $IKE_SS\""
fi
case "$ESP" in
  gcm) ESP_LS=aes_gcm128-null ESP_SS=aes128gcm16 ;;
  cbc) ESP_LS=aes128-sha2_256 ESP_SS=aes128-sha256 ;;
  *) tn_fail "ESP=$ESP: gcm or cbc" ;;
esac
# Addresses per side: HOST (IKE endpoint), NET (client subnet, empty in transport
# mode), PING (the address pings leave from / go to).
case "$MODE" in
  tunnel4)
    west_HOST=192.0.2.1 east_HOST=192.0.2.2
    west_NET=198.51.100.0/24 east_NET=203.0.113.0/24
    west_PING=198.51.100.1 east_PING=203.0.113.1 TUNNEL=yes ;;
  tunnel6)
    west_HOST=2001:db8:1::1 east_HOST=2001:db8:1::2
    west_NET=2001:db8:10::/64 east_NET=2001:db8:20::/64
    west_PING=2001:db8:10::1 east_PING=2001:db8:20::1 TUNNEL=yes ;;
  transport4)
    west_HOST=192.0.2.1 east_HOST=192.0.2.2 west_NET= east_NET=
    west_PING=192.0.2.1 east_PING=192.0.2.2 TUNNEL=no ;;
  *) tn_fail "MODE=$MODE: tunnel4, tunnel6 or transport4" ;;
esac
# the policies' selectors: the client subnets, or the hosts in transport mode
case "$MODE" in
  tunnel*) west_SEL=$west_NET east_SEL=$east_NET ;;
  *) west_SEL=$west_HOST/32 east_SEL=$east_HOST/32 ;;
esac
# identities (IKE_AUTH's IDi/IDr and the PSK's selectors)
case "${IDS:=fqdn}" in
  fqdn) west_ID=@west east_ID=@east ;;                                     # ID_FQDN
  email) west_ID=west@testnet.example east_ID=east@testnet.example ;;      # ID_RFC822_ADDR
  ip) west_ID=$west_HOST east_ID=$east_HOST ;;                             # ID_IPV4/6_ADDR
  *) tn_fail "IDS=$IDS: fqdn, email or ip" ;;
esac

# side_var SIDE NAME: the value of SIDE_NAME
side_var() { eval "printf '%s' \"\${$1_$2}\""; }
other() { if [ "$1" = west ]; then echo east; else echo west; fi; }
kind_of() { if [ "$1" = west ]; then echo "$WEST"; else echo "$EAST"; fi; }
# call SIDE VERB: run the VERB function of the implementation on SIDE
call() { k=$(kind_of "$1"); "${k}_$2" "$1"; }

# --- failure reporting: every daemon's log tail, both kernels' SAs -----------------
show_all() {
  for s in west east; do
    tn_log "----- $s: ip xfrm state (keys elided)"
    ip -n $s xfrm state 2>&1 | grep -E '^src|proto' | head -8
    tn_log "----- $s: ip xfrm policy (connection's selectors)"
    ip -n $s xfrm policy 2>&1 | grep -A3 -E "^src ($west_SEL|$east_SEL) dst" | head -16
  done
  if [ -f "$TN_SCRATCH/esp.txt" ]; then
    tn_log "----- capture on west0 (last lines)"; tail -6 "$TN_SCRATCH/esp.txt"
  fi
  for s in west east; do
    tn_log "----- $s ($(kind_of $s)): last lines of its log"
    call $s logs 2>&1 | tail -40
  done
}
# save_logs: every daemon's whole log, kept beside the case logs (the scratch dir is
# on the guest's tmpfs and dies with it): $TN_WORK/daemon-logs/<scenario>/<side>.log
save_logs() {
  [ -n "${TN_WORK:-}" ] || return 0
  dst=$TN_WORK/daemon-logs/$TN_NAME
  mkdir -p "$dst" 2>/dev/null || return 0
  for s in west east; do call $s logs > "$dst/$s-$(kind_of $s).log" 2>&1; done
}
fail() { show_all; save_logs; tn_fail "$*"; }

# sa_count NS: ESP SAs between the two hosts in a namespace's kernel
sa_count() {
  ip -n "$1" xfrm state 2>/dev/null |
    grep -E "^src ($west_HOST|$east_HOST) dst ($west_HOST|$east_HOST)\$" -A1 |
    grep -c 'proto esp'
}

# pol_count NS: IPsec policies of the connection's selectors in a namespace's kernel
# (per-socket bypass policies, which have no selectors, are not counted)
pol_count() {
  ip -n "$1" xfrm policy 2>/dev/null | grep -cE "^src ($west_SEL|$east_SEL) dst ($west_SEL|$east_SEL) *\$"
}

# --- the versions under test, for the matrix (docs/interop.md) ---------------------
strongswan_version=$(dpkg-query -W -f '${Version}' charon-systemd 2>/dev/null | cut -d- -f1)
libreswan_version=$("$TN_LIBRESWAN/usr/libexec/ipsec/pluto" --version 2>/dev/null | awk '{print $2; exit}')
tn_log "scenario: west=$WEST east=$EAST initiator=$INITIATOR mode=$MODE dh=$DH esp=$ESP ids=$IDS badpsk=$BADPSK invalke=$INVALKE encap=$ENCAP end=$END${PLUTO_AS:+ (pluto-rs sides played by $PLUTO_AS)}"
tn_log "versions: strongSwan ${strongswan_version:-?}, libreswan ${libreswan_version:-?}, pluto-rs $(pluto_version)"

# --- topology -------------------------------------------------------------------
tn_pair
if [ "$MODE" = tunnel6 ]; then
  tn_addr west "$west_PING/128"; tn_addr east "$east_PING/128"
  tn_route west "$east_NET" "$east_HOST" "$west_PING"
  tn_route east "$west_NET" "$west_HOST" "$east_PING"
fi

# --- daemons --------------------------------------------------------------------
for s in west east; do
  mkdir -p "$TN_SCRATCH/$s"
  call $s start || fail "$s ($(kind_of $s)) did not start"
done
for s in west east; do
  call $s ready || fail "$s ($(kind_of $s)) did not become ready"
done
for s in west east; do
  call $s load || fail "$s ($(kind_of $s)) refused the connection"
done

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
