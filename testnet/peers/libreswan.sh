# A libreswan 4.10 side of a scenario: its pluto with its own ipsec.conf, NSS db, run
# dir and ipsec.secrets, the connection loaded with addconn from that ipsec.conf;
# initiates with its own whack. A scenario's <side>_LSW lines go into the conn.
# `rekey=no` (unless REKEY=yes), so that as initiator it does not revive the
# connection after the peer deletes it (README gotcha 12); `keyingtries=1`, so that a
# refused authentication ends its initiate instead of retrying.

libreswan_start() {
  d=$TN_SCRATCH/$1 s=$1 o=$(other $1)
  ls_pluto=$TN_LIBRESWAN/usr/libexec/ipsec/pluto
  [ -x "$ls_pluto" ] || tn_fail "no libreswan in $TN_LIBRESWAN (run testnet/setup.sh)"
  mkdir -p "$d/nss" "$d/run" "$d/ipsec.d"
  # (a restart after a kill keeps the NSS db; the dead daemon's lock and socket go)
  [ -f "$d/nss/cert9.db" ] || certutil -N -d "sql:$d/nss" --empty-password >/dev/null || return 1
  rm -f "$d/run/pluto.pid" "$d/run/pluto.ctl"
  if [ "$TUNNEL" = yes ]; then
    nets="    leftsubnet=$(side_var $s NET)
    rightsubnet=$(side_var $o NET)"
    type=tunnel
  else
    nets= type=transport
  fi
  cat > "$d/ipsec.conf" <<EOC
config setup
    plutodebug=none
conn $CONN
    ikev2=yes
    authby=secret
    type=$type
    left=$(side_var $s HOST)
    leftid=$(side_var $s ID)
    right=$(side_var $o HOST)
    rightid=$(side_var $o ID)
$nets
    ike=$(side_var $s IKE_LS)
    esp=$ESP_LS
    leftupdown=%disabled
    rekey=$( [ "$REKEY" = yes ] && echo yes || echo no )
    keyingtries=1
    encapsulation=$( [ "$ENCAP" = yes ] && echo yes || echo auto )
    auto=add
$(printf '%s\n' "$(side_var $s LSW)" | sed '/^$/d; s/^ */    /')
EOC
  printf '%s %s : PSK "%s"\n' "$(side_var $s ID)" "$(side_var $o ID)" "$(side_var $s PSK)" > "$d/ipsec.secrets"
  tn_bg tn_in "$s" "$ls_pluto" --nofork --stderrlog \
    --config "$d/ipsec.conf" --rundir "$d/run" --nssdir "$d/nss" --ipsecdir "$d/ipsec.d" \
    --secretsfile "$d/ipsec.secrets" --dumpdir "$d/run" >"$d/pluto.log" 2>&1
}

libreswan_ready() {
  i=0
  until test -S "$TN_SCRATCH/$1/run/pluto.ctl"; do
    i=$((i + 1)); [ $i -le 100 ] || return 1; sleep 0.1
  done
}

libreswan_load() {
  d=$TN_SCRATCH/$1
  tn_in "$1" "$TN_LIBRESWAN/usr/libexec/ipsec/addconn" --config "$d/ipsec.conf" \
    --ctlsocket "$d/run/pluto.ctl" "$CONN"
}

libreswan_initiate() {
  tn_log "$1: libreswan whack --name $CONN --initiate"
  tn_in "$1" timeout 20 "$TN_LIBRESWAN/usr/libexec/ipsec/whack" --ctlsocket "$TN_SCRATCH/$1/run/pluto.ctl" \
    --name "$CONN" --initiate
}

libreswan_logs() { cat "$TN_SCRATCH/$1/pluto.log"; }
