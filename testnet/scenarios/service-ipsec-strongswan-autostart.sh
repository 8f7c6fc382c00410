#!/bin/sh
# tiers: service
# timeout: 120
# The service: pluto-rs started by `ipsec start` under a stand-in for systemd's
# notification socket, from an ipsec.conf whose conn says auto=start, brings the
# tunnel to strongSwan up by itself. PASS means: READY=1 (with MAINPID) then WATCHDOG=1
# reach the socket; the tunnel is up without `ipsec up` and pings pass over ESP;
# `ipsec replace` takes the conn down and loads it again from the file, `ipsec up`
# brings it back; `ipsec stop` sends STOPPING=1, leaves no ESP SA and pluto exits.
. "$TN_LIB"
TN_NAME=service-ipsec-strongswan-autostart
WEST=ipsec EAST=strongswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm
west_AUTO=start west_NOTIFY=yes
TN_PEERS=${TN_PEERS:-$(dirname "$TN_LIB")/peers}
. "$TN_PEERS/setup.sh"
setup_topology
# strongSwan first, with its conn loaded: a service booting before its peer is
# configured would get NO_PROPOSAL_CHOSEN, which pluto-rs (unlike a timeout) does
# not retry (docs/testnet.md)
mkdir -p "$TN_SCRATCH/west" "$TN_SCRATCH/east"
call east start && call east ready && call east load || fail "strongSwan did not start"
call west start && call west ready || fail "west (ipsec start) did not start"
notify=$TN_SCRATCH/west/notify.log

ipsec_wait_up west 30 || fail "auto=start: the tunnel did not come up within 30 s"
tn_log "auto=start: the tunnel came up by itself"
tn_in west ping -n -q -c 4 -i 0.2 -W 2 -I "$west_PING" "$east_PING" >/dev/null ||
  fail "ping $west_PING -> $east_PING unanswered"
ipsec_show west trafficstatus && ipsec_traffic_ok || fail "no traffic counted"

grep -q "^READY=1|MAINPID=$west_PID|" "$notify" || fail "no READY=1 with MAINPID=$west_PID: $(cat "$notify")"
i=0; until grep -q '^WATCHDOG=1$' "$notify"; do
  i=$((i + 1)); [ $i -le 30 ] || fail "no WATCHDOG=1 within 3 s (WATCHDOG_USEC=1000000)"; sleep 0.1
done
tn_log "notification socket got: $(sort "$notify" | uniq -c | tr -s ' ' | tr '\n' ';')"

# replace: the loaded conn goes (its SAs with it) and comes back from the file
sed -i 's/^\tauto=start$/\tauto=add/' "$TN_SCRATCH/west/ipsec.conf"
ipsec_show west replace "$CONN" || fail "ipsec replace failed"
i=0; until [ "$(sa_count west)" -eq 0 ]; do
  i=$((i + 1)); [ $i -le 50 ] || fail "ipsec replace left $(sa_count west) ESP SA(s)"; sleep 0.1
done
ipsec_show west up "$CONN" || fail "ipsec up after replace failed"
tn_in west ping -n -q -c 2 -i 0.2 -W 2 -I "$west_PING" "$east_PING" >/dev/null ||
  fail "ping after replace unanswered"
ipsec_show west status >/dev/null || fail "ipsec status failed"
printf '%s\n' "$out" | grep -q 'ESTABLISHED_CHILD_SA' || fail "ipsec status: no established Child SA"

ipsec_show west stop || fail "ipsec stop failed"
ipsec_gone west || fail "pluto-rs still runs after ipsec stop"
grep -q '^STOPPING=1' "$notify" || fail "no STOPPING=1: $(cat "$notify")"
i=0; until [ "$(sa_count west)" -eq 0 ] && [ "$(sa_count east)" -eq 0 ]; do
  i=$((i + 1)); [ $i -le 50 ] || fail "ESP SAs left after ipsec stop: west $(sa_count west), east $(sa_count east)"; sleep 0.1
done
tn_log "STOPPING=1 sent, pluto-rs exited, no ESP SA left"
save_logs
tn_log "PASS"
