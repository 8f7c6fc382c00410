#!/bin/sh
# tiers: interop
# timeout: 90
# The peers pluto-rs is tested against must work with each other in the bed:
# strongSwan (west, charon-systemd + swanctl) and libreswan 4.10 (east) bring up an
# IKEv2 PSK tunnel 198.51.100.0/24 <-> 203.0.113.0/24 over the veth; pings pass as ESP.
# Also the worked example of running both daemons with private directories, for the
# pluto-rs scenarios that follow. INITIATOR=west|east picks who starts (default west).
. "$TN_LIB"
TN_NAME=peers-strongswan-libreswan
INITIATOR=${INITIATOR:-west}
W=$TN_SCRATCH/west E=$TN_SCRATCH/east
PSK="testnet-psk-0123456789abcdef"
for d in x509 x509ca x509ocsp x509aa x509ac x509crl private pubkey rsa ecdsa bliss pkcs8 pkcs12; do
  mkdir -p "$W/$d"
done
mkdir -p "$E/nss" "$E/run" "$E/ipsec.d"
tn_pair

# --- strongSwan in west ----------------------------------------------------------
cat > "$W/strongswan.conf" <<EOC
charon-systemd {
  load = random nonce aes sha1 sha2 hmac kdf gcm pem pkcs1 x509 pubkey curve25519 openssl kernel-netlink socket-default vici
  install_routes = no
  filelog { log { path = $W/charon.log
                  default = 1
                  ike = 2
                  knl = 2
                  flush_line = yes } }
  plugins { vici { socket = unix://$W/vici } }
}
EOC
cat > "$W/swanctl.conf" <<EOC
connections {
  east {
    version = 2
    local_addrs = 192.0.2.1
    remote_addrs = 192.0.2.2
    proposals = aes256-sha256-x25519
    local { auth = psk
            id = @west }
    remote { auth = psk
             id = @east }
    children { net { local_ts = 198.51.100.0/24
                     remote_ts = 203.0.113.0/24
                     esp_proposals = aes128gcm16-x25519 } }
  }
}
secrets { ike-east { id-1 = @west
                     id-2 = @east
                     secret = "$PSK" } }
EOC
tn_bg ip netns exec west env STRONGSWAN_CONF="$W/strongswan.conf" charon-systemd >"$W/stdout" 2>&1
VICI="--uri unix://$W/vici"

# --- libreswan in east -----------------------------------------------------------
[ -x "$TN_LIBRESWAN/usr/libexec/ipsec/pluto" ] || tn_fail "no libreswan in $TN_LIBRESWAN (run testnet/setup.sh)"
certutil -N -d "sql:$E/nss" --empty-password >/dev/null || tn_fail "NSS database"
cat > "$E/ipsec.conf" <<EOC
config setup
    plutodebug=none
conn west
    ikev2=yes
    authby=secret
    left=192.0.2.2
    leftid=@east
    leftsubnet=203.0.113.0/24
    right=192.0.2.1
    rightid=@west
    rightsubnet=198.51.100.0/24
    ike=aes256-sha2_256-dh31
    esp=aes_gcm128-none-dh31
    leftupdown=%disabled
    rekey=no
    auto=add
EOC
printf '@east @west : PSK "%s"\n' "$PSK" > "$E/ipsec.secrets"
tn_bg ip netns exec east "$TN_LIBRESWAN/usr/libexec/ipsec/pluto" --nofork --stderrlog \
  --config "$E/ipsec.conf" --rundir "$E/run" --nssdir "$E/nss" --ipsecdir "$E/ipsec.d" \
  --secretsfile "$E/ipsec.secrets" --dumpdir "$E/run" >"$E/pluto.log" 2>&1
WHACK="$TN_LIBRESWAN/usr/libexec/ipsec/whack --ctlsocket $E/run/pluto.ctl"

show_logs() {
  tn_log "--- charon.log (tail)"; tail -25 "$W/charon.log" 2>/dev/null
  tn_log "--- pluto.log (tail)"; tail -25 "$E/pluto.log" 2>/dev/null
  tn_log "--- west xfrm state"; ip -n west xfrm state 2>/dev/null | head -20
}

tn_wait_for 10 test -S "$W/vici"
tn_wait_for 10 test -S "$E/run/pluto.ctl"
ip netns exec east "$TN_LIBRESWAN/usr/libexec/ipsec/addconn" --config "$E/ipsec.conf" \
  --ctlsocket "$E/run/pluto.ctl" west || tn_fail "addconn"
ip netns exec west swanctl --load-all $VICI --file "$W/swanctl.conf" >/dev/null || tn_fail "swanctl --load-all"

tn_capture west west0 "$TN_SCRATCH/esp.txt"
tn_log "initiating from $INITIATOR"
if [ "$INITIATOR" = west ]; then
  ip netns exec west swanctl --initiate $VICI --child net --timeout 20 >/dev/null \
    || { show_logs; tn_fail "strongSwan could not initiate"; }
else
  ip netns exec east $WHACK --name west --initiate >/dev/null \
    || { show_logs; tn_fail "libreswan could not initiate"; }
fi
tn_ping west 198.51.100.1 203.0.113.1 4
sleep 0.3
n=$(tn_count_esp "$TN_SCRATCH/esp.txt")
tn_log "ESP packets seen on west0: $n"
ip netns exec east $WHACK --trafficstatus
[ "$n" -ge 8 ] || { show_logs; tn_fail "expected 8 ESP packets, saw $n"; }
tn_log "PASS"
