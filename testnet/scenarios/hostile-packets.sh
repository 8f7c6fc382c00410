#!/bin/sh
# tiers: hostile
# timeout: 180
#
# Hostile packets at a live pluto-rs responder (issue 10, acceptance "Hostile
# packets"), in UML with real ESP. east runs pluto-hostile (loadgen/src/hostile.rs):
# a handshake, then every truncation of an IKE_SA_INIT request, wrong header and
# payload lengths, off-curve/low-order KE values (x25519, P-256), absurd counts
# (transforms, SPI size, 8,000 payloads), 64 KiB datagrams, IKEv1 and IKEv3 headers,
# NAT-T non-ESP-marker games on 4500; a second handshake, then its encrypted Delete
# request with every byte flipped, every truncation, other message IDs and flags,
# replays of its IKE_SA_INIT/IKE_AUTH; then the real Delete, which must be answered;
# a last handshake. PASS when pluto-hostile reports every step done, pluto-rs is
# alive, its VmRSS grew by less than 16 MiB, whack --status answers, and the last
# handshake's Child SA is in west's kernel (ESP SAs installed).
. "$TN_LIB"
TN_NAME=hostile-packets
BIN=${TN_BIN:-$(dirname "$TN_LIB")/bin}
PSK=hostile-packets-psk-0123456789abcdef
D=$TN_SCRATCH
for b in pluto whack pluto-hostile; do [ -x "$BIN/$b" ] || tn_fail "no $b in $BIN"; done
tn_pair
mkdir -p "$D/run"
printf '@west %%any : PSK "%s"\n' "$PSK" > "$D/ipsec.secrets"
chmod 600 "$D/ipsec.secrets"
tn_bg ip netns exec west "$BIN/pluto" --nofork --stderrlog --rundir "$D/run" \
  --ctlsocket "$D/run/pluto.ctl" --secretsfile "$D/ipsec.secrets" > "$D/pluto.log" 2>&1
PID=$TN_PID
W="ip netns exec west $BIN/whack --ctlsocket $D/run/pluto.ctl"
tn_wait_for 10 test -S "$D/run/pluto.ctl"
$W --name rw --ikev2 --psk --encrypt --tunnel --pfs --ike aes128-sha2_256-dh31,aes128-sha2_256-dh19 \
  --esp aes_gcm128-none --id @west --host 192.0.2.1 --updown %disabled \
  --to --id %any --host %any || tn_fail "whack add"
$W --listen > /dev/null || tn_fail "whack --listen"
rss() { awk '/^VmRSS:/{print $2}' "/proc/$PID/status"; }
R0=$(rss)
tn_log "pluto-rs pid $PID, VmRSS ${R0} KiB"
tn_in east "$BIN/pluto-hostile" --local 192.0.2.2 --remote 192.0.2.1 --psk "$PSK" \
  --id @hostile --remote-id @west > "$D/hostile.log" 2>&1
rc=$?
cat "$D/hostile.log"
kill -0 "$PID" 2>/dev/null || { tail -30 "$D/pluto.log"; tn_fail "pluto-rs died"; }
R1=$(rss)
echo "FIGURE rss_kib before $R0 after $R1"
t0=$(date +%s%N)
$W --status > "$D/status.txt" 2>&1 || tn_fail "whack --status failed"
echo "FIGURE whack_status_ms $(( ($(date +%s%N) - t0) / 1000000 ))"
grep -E '^HOSTILE (handshake|real-delete)' "$D/hostile.log" | sed 's/^HOSTILE/FIGURE/'
esp=$(ip -n west xfrm state | grep -c '^src 192.0.2.[12] dst 192.0.2.[12]')
echo "FIGURE west_esp_sas $esp"
# the daemon's log, kept beside the case logs (the scratch dir dies with the guest)
[ -n "${TN_WORK:-}" ] && mkdir -p "$TN_WORK/daemon-logs" && cp "$D/pluto.log" "$TN_WORK/daemon-logs/$TN_NAME-pluto.log"
bad=""
[ $rc -eq 0 ] || bad="$bad; pluto-hostile exited $rc"
[ $((R1 - R0)) -lt 16384 ] || bad="$bad; VmRSS grew from $R0 to $R1 KiB"
[ "$esp" -ge 4 ] || bad="$bad; $esp ESP SAs in west's kernel, not the 4 of the first and last handshakes' Child SAs"
if [ -n "$bad" ]; then
  tail -40 "$D/pluto.log"
  tn_fail "${bad#; }"
fi
tn_log "pluto-rs log: $(wc -l < "$D/pluto.log") lines; warnings: $(grep -c WARN "$D/pluto.log")"
tn_log "PASS"
