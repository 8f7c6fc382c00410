#!/bin/sh
# tiers: service
# timeout: 120
# The service as responder: pluto-rs started by `ipsec start` from an ipsec.conf
# with an auto=add conn; libreswan 4.10 initiates. PASS means: libreswan's initiate
# succeeds, pings pass over ESP, `ipsec status` and `ipsec trafficstatus` on pluto-rs
# show the tunnel, and `ipsec stop` on pluto-rs deletes it on both ends (no ESP SA
# left in either kernel) and ends pluto-rs.
. "$TN_LIB"
TN_NAME=service-libreswan-ipsec-responder
WEST=libreswan EAST=ipsec INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=cbc
TN_PEERS=${TN_PEERS:-$(dirname "$TN_LIB")/peers}
. "$TN_PEERS/setup.sh"
setup_topology
setup_daemons

call west initiate || fail "libreswan could not initiate"
tn_in west ping -n -q -c 4 -i 0.2 -W 2 -I "$west_PING" "$east_PING" >/dev/null ||
  fail "ping $west_PING -> $east_PING unanswered"
ipsec_show east status >/dev/null || fail "ipsec status failed"
printf '%s\n' "$out" | grep -q 'ESTABLISHED_CHILD_SA' || fail "ipsec status: no established Child SA"
ipsec_show east trafficstatus && ipsec_traffic_ok || fail "no traffic counted"
ipsec_show east stop || fail "ipsec stop failed"
ipsec_gone east || fail "pluto-rs still runs after ipsec stop"
i=0; until [ "$(sa_count west)" -eq 0 ] && [ "$(sa_count east)" -eq 0 ]; do
  i=$((i + 1)); [ $i -le 50 ] || fail "ESP SAs left after ipsec stop: west $(sa_count west), east $(sa_count east)"; sleep 0.1
done
tn_log "ipsec stop deleted the tunnel on both ends"
save_logs
tn_log "PASS"
