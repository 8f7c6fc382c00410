# A strongSwan side of a scenario: charon-systemd with its own strongswan.conf (the
# charon-systemd section), vici socket and log in the side's scratch dir, configured
# with its own swanctl.conf and `swanctl --load-all`; initiates with
# `swanctl --initiate --child net`. A scenario's <side>_SWAN_IKE and <side>_SWAN_CHILD
# lines (lifetimes, dpd) go into the connection and its child.

strongswan_start() {
  d=$TN_SCRATCH/$1 s=$1 o=$(other $1)
  for x in x509 x509ca x509ocsp x509aa x509ac x509crl private pubkey rsa ecdsa bliss pkcs8 pkcs12; do
    mkdir -p "$d/$x"
  done
  cat > "$d/strongswan.conf" <<EOC
charon-systemd {
  load = random nonce aes sha1 sha2 hmac kdf gcm pem pkcs1 x509 pubkey curve25519 openssl kernel-netlink socket-default vici
  install_routes = no
  filelog { log { path = $d/charon.log
                  default = 1
                  ike = 2
                  knl = 2
                  flush_line = yes } }
  plugins { vici { socket = unix://$d/vici } }
}
EOC
  if [ "$TUNNEL" = yes ]; then
    ts="local_ts = $(side_var $s NET)
                     remote_ts = $(side_var $o NET)"
    mode=tunnel
  else
    ts= mode=transport
  fi
  cat > "$d/swanctl.conf" <<EOC
connections {
  $CONN {
    version = 2
    local_addrs = $(side_var $s HOST)
    remote_addrs = $(side_var $o HOST)
    proposals = $(side_var $s IKE_SS)
    encap = $( [ "$ENCAP" = yes ] && echo yes || echo no )
$(side_var $s SWAN_IKE)
    local { auth = psk
            id = $(side_var $s ID) }
    remote { auth = psk
             id = $(side_var $o ID) }
    children { net { $ts
                     mode = $mode
                     esp_proposals = $ESP_SS
$(side_var $s SWAN_CHILD) } }
  }
}
secrets { ike-$CONN { id-1 = $(side_var $s ID)
                      id-2 = $(side_var $o ID)
                      secret = "$(side_var $s PSK)" } }
EOC
  rm -f "$d/vici"   # a restart after a kill: wait for the new daemon's socket
  tn_bg tn_in "$s" env STRONGSWAN_CONF="$d/strongswan.conf" charon-systemd >"$d/stdout" 2>&1
}

strongswan_ready() {
  i=0
  until test -S "$TN_SCRATCH/$1/vici"; do
    i=$((i + 1)); [ $i -le 100 ] || return 1; sleep 0.1
  done
}

strongswan_load() {
  d=$TN_SCRATCH/$1
  tn_in "$1" swanctl --load-all --uri "unix://$d/vici" --file "$d/swanctl.conf" >/dev/null
}

strongswan_initiate() {
  tn_log "$1: swanctl --initiate --child net"
  tn_in "$1" swanctl --initiate --uri "unix://$TN_SCRATCH/$1/vici" --child net --timeout 20
}

strongswan_logs() { cat "$TN_SCRATCH/$1/charon.log" "$TN_SCRATCH/$1/stdout" 2>/dev/null; }
