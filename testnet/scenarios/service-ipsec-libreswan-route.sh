#!/bin/sh
# tiers: service
# timeout: 120
# The service with an auto=route conn: `ipsec start` routes it (a trap policy), the
# first packets towards libreswan 4.10 bring the tunnel up. PASS means: a trap policy
# after start, the tunnel up after traffic (no `ipsec up`), pings then all answered
# over ESP, `ipsec down` leaves no ESP SA, `ipsec unroute` removes the policies,
# `ipsec stop` ends pluto-rs.
. "$TN_LIB"
TN_NAME=service-ipsec-libreswan-route
WEST=ipsec EAST=libreswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm
west_AUTO=route
TN_PEERS=${TN_PEERS:-$(dirname "$TN_LIB")/peers}
. "$TN_PEERS/setup.sh"
setup_topology
setup_daemons

n=$(pol_count west)
tn_log "west holds $n policies of the conn after ipsec start (auto=route)"
[ "$n" -ge 1 ] || fail "auto=route: no trap policy after ipsec start"
tn_log "west\$ ping (traffic through the trap)"
tn_in west ping -n -q -c 10 -i 0.3 -W 1 -I "$west_PING" "$east_PING" >/dev/null
ipsec_wait_up west 20 || fail "the trap did not bring the tunnel up"
tn_in west ping -n -q -c 4 -i 0.2 -W 2 -I "$west_PING" "$east_PING" >/dev/null ||
  fail "ping over the tunnel unanswered"
ipsec_show west trafficstatus && ipsec_traffic_ok || fail "no traffic counted"

ipsec_show west down "$CONN" || fail "ipsec down failed"
i=0; until [ "$(sa_count west)" -eq 0 ] && [ "$(sa_count east)" -eq 0 ]; do
  i=$((i + 1)); [ $i -le 50 ] || fail "ESP SAs left after ipsec down: west $(sa_count west), east $(sa_count east)"; sleep 0.1
done
ipsec_show west unroute "$CONN" || fail "ipsec unroute failed"
n=$(pol_count west)
[ "$n" -eq 0 ] || fail "$n policies left after ipsec unroute"
ipsec_show west stop || fail "ipsec stop failed"
ipsec_gone west || fail "pluto-rs still runs after ipsec stop"
save_logs
tn_log "PASS"
