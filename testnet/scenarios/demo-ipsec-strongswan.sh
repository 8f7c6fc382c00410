#!/bin/sh
# tiers: demo quick interop service
# timeout: 90
# The demo (`cargo xtask demo`): pluto-rs run as a libreswan user runs libreswan, from
# an ipsec.conf through the ipsec command, against strongSwan 5.9.8 with real ESP:
# ipsec start, ipsec up, pings through the tunnel, ipsec status, ipsec trafficstatus,
# ipsec down, ipsec stop. PASS means: up exits 0, the pings are answered over ESP,
# trafficstatus counts bytes both ways, and after down and stop neither kernel holds
# an ESP SA of the tunnel and pluto-rs has exited.
. "$TN_LIB"
TN_NAME=demo-ipsec-strongswan
WEST=ipsec EAST=strongswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm
TN_PEERS=${TN_PEERS:-$(dirname "$TN_LIB")/peers}
. "$TN_PEERS/setup.sh"
setup_topology
setup_daemons
tn_capture west west0 "$TN_SCRATCH/esp.txt"

show() { ipsec_show west "$@"; }

show up "$CONN" || fail "ipsec up $CONN failed"
tn_log "west\$ ping -c 4 -I $west_PING $east_PING"
tn_in west ping -n -c 4 -i 0.2 -W 2 -I "$west_PING" "$east_PING" | sed 's/^/    /'
tn_in west ping -n -q -c 1 -W 2 -I "$west_PING" "$east_PING" >/dev/null ||
  fail "ping $west_PING -> $east_PING unanswered"
sleep 0.3
n=$(tn_count_esp "$TN_SCRATCH/esp.txt")
tn_log "ESP packets seen on west0: $n"
[ "$n" -ge 8 ] || fail "expected at least 8 ESP packets on west0, saw $n"

show status || fail "ipsec status failed"
printf '%s\n' "$out" | grep -q "\"$CONN\".*established IKE SA" ||
  printf '%s\n' "$out" | grep -q 'ESTABLISHED_IKE_SA' || fail "ipsec status shows no established IKE SA"
show trafficstatus || fail "ipsec trafficstatus failed"
ipsec_traffic_ok ||
  fail "ipsec trafficstatus shows no traffic (inBytes=${inb:-none} outBytes=${outb:-none})"

tn_log "east (strongSwan)\$ swanctl --list-sas"
tn_in east swanctl --list-sas --uri "unix://$TN_SCRATCH/east/vici" 2>&1 | sed 's/^/    /'

show down "$CONN" || fail "ipsec down $CONN failed"
i=0
until [ "$(sa_count west)" -eq 0 ] && [ "$(sa_count east)" -eq 0 ]; do
  i=$((i + 1))
  [ $i -le 50 ] || fail "5 s after ipsec down: west holds $(sa_count west), east $(sa_count east) ESP SA(s)"
  sleep 0.1
done
tn_log "no ESP SA left in either kernel"
show stop || fail "ipsec stop failed"
ipsec_gone west || fail "pluto-rs (pid $west_PID) still runs after ipsec stop"
tn_log "pluto-rs has exited"
save_logs
tn_log "PASS"
