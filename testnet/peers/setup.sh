# The common part of every pluto-rs test-net scenario: the parameters and what they mean
# for each implementation, the helpers (side_var, call, show_all, fail, sa_count,
# pol_count), and two steps, setup_topology (lib.sh's tn_pair, plus the IPv6 client
# addresses) and setup_daemons (start, ready, load on both sides). Sourced after lib.sh
# by peers/scenario.sh (the interop body) and peers/lifecycle.sh (the lifecycle tier).
# The parameters are described at the head of peers/scenario.sh; besides them:
#   REKEY        no (default): pluto-rs sides get --dontrekey and libreswan rekey=no, as
#                the peers never revive a connection after a Delete; yes: all sides
#                rekey (strongSwan always does)
#   <side>_WHACK       more whack connection options for a pluto-rs side
#   <side>_SWAN_IKE    more swanctl.conf lines in a strongSwan side's connection
#   <side>_SWAN_CHILD  more swanctl.conf lines in its child "net"
#   <side>_LSW         more ipsec.conf lines in a libreswan side's conn
# and a side kind "none": no IKE daemon at all on that side.

TN_PEERS=${TN_PEERS:-$(dirname "$TN_LIB")/peers}
. "$TN_PEERS/pluto.sh"
. "$TN_PEERS/ipsec.sh"
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
# REKEY=no (default): nobody starts a rekey, nobody revives a deleted connection
REKEY=${REKEY:-no}
case "$REKEY" in yes|no) ;; *) tn_fail "REKEY=$REKEY: yes or no" ;; esac
# per-side additions to each implementation's connection (empty unless a scenario sets them)
for _s in west east; do
  for _v in WHACK SWAN_IKE SWAN_CHILD LSW; do eval ": \"\${${_s}_${_v}:=}\""; done
done
west_PSK=$PSK east_PSK=$PSK
[ "$BADPSK" = yes ] && west_PSK="wrong-$PSK"

case "$WEST/$EAST" in
  pluto/*|*/pluto|ipsec/*|*/ipsec) ;;
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
  for c in "$TN_SCRATCH"/*.txt; do [ -f "$c" ] && cp "$c" "$dst/"; done
  return 0
}
fail() { show_all; save_logs; tn_fail "$*"; }

# sa_count NS: ESP SAs between the two hosts in a namespace's kernel (not counting the
# kernel's larval SPI-0 states of a pending ACQUIRE, which carry no traffic)
sa_count() {
  ip -n "$1" xfrm state 2>/dev/null |
    grep -E "^src ($west_HOST|$east_HOST) dst ($west_HOST|$east_HOST)\$" -A1 |
    grep 'proto esp' | grep -c -v 'spi 0x00000000 '
}

# pol_count NS: IPsec policies of the connection's selectors in a namespace's kernel
# (per-socket bypass policies, which have no selectors, are not counted)
pol_count() {
  ip -n "$1" xfrm policy 2>/dev/null | grep -cE "^src ($west_SEL|$east_SEL) dst ($west_SEL|$east_SEL) *\$"
}

# --- the versions under test, for the matrix (docs/interop.md) ---------------------
strongswan_version=$(dpkg-query -W -f '${Version}' charon-systemd 2>/dev/null | cut -d- -f1)
libreswan_version=$("$TN_LIBRESWAN/usr/libexec/ipsec/pluto" --version 2>/dev/null | awk '{print $2; exit}')
tn_log "scenario: west=$WEST east=$EAST initiator=$INITIATOR mode=$MODE dh=$DH esp=$ESP ids=$IDS badpsk=$BADPSK invalke=$INVALKE encap=$ENCAP end=$END rekey=$REKEY${PLUTO_AS:+ (pluto-rs sides played by $PLUTO_AS)}"
tn_log "versions: strongSwan ${strongswan_version:-?}, libreswan ${libreswan_version:-?}, pluto-rs $(pluto_version)"

# a side without any IKE daemon (a peer that never answers)
none_start() { :; }
none_ready() { :; }
none_load() { :; }
none_initiate() { tn_log "$1 runs no IKE daemon: it cannot initiate"; return 1; }
none_logs() { echo "($1 runs no IKE daemon)"; }

# --- topology -------------------------------------------------------------------
# NETEM (empty by default): netem parameters for both ends of the veth, e.g.
# "delay 200ms loss 10% duplicate 10% reorder 25% 50%" (the hostile tier's chaos)
NETEM=${NETEM:-}
setup_topology() {
  tn_pair
  if [ "$MODE" = tunnel6 ]; then
    tn_addr west "$west_PING/128"; tn_addr east "$east_PING/128"
    tn_route west "$east_NET" "$east_HOST" "$west_PING"
    tn_route east "$west_NET" "$west_HOST" "$east_PING"
  fi
  if [ -n "$NETEM" ]; then
    modprobe -q sch_netem 2>/dev/null
    for s in west east; do
      # shellcheck disable=SC2086
      tn_in $s tc qdisc add dev ${s}0 root netem $NETEM || tn_fail "$s: tc qdisc add dev ${s}0 root netem $NETEM"
    done
    tn_log "netem on west0 and east0 (each direction): $NETEM"
  fi
}

# --- daemons --------------------------------------------------------------------
setup_daemons() {
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
}
