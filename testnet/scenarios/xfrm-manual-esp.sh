#!/bin/sh
# tiers: quick interop
# timeout: 60
# The test bed itself: a manually keyed ESP tunnel set up with iproute2 between the
# standard west/east namespaces must carry pings, and tcpdump must see them as ESP on
# the veth. Exercises lib.sh (topology, capture, counting, cleanup), so a failure
# here points at the harness rather than at pluto-rs.
. "$TN_LIB"
TN_NAME=xfrm-manual-esp
tn_pair

k1=0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324
k2=0xa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3
aead="rfc4106(gcm(aes))"
for ns in west east; do
  ip -n $ns xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x2001 reqid 1 \
    mode tunnel aead "$aead" $k1 128 || tn_fail "state west->east in $ns"
  ip -n $ns xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi 0x2002 reqid 1 \
    mode tunnel aead "$aead" $k2 128 || tn_fail "state east->west in $ns"
done
pol() { # ns dir src dst tsrc tdst
  ip -n "$1" xfrm policy add src "$3" dst "$4" dir "$2" \
    tmpl src "$5" dst "$6" proto esp reqid 1 mode tunnel || tn_fail "policy $*"
}
pol west out 198.51.100.0/24 203.0.113.0/24 192.0.2.1 192.0.2.2
pol west in 203.0.113.0/24 198.51.100.0/24 192.0.2.2 192.0.2.1
pol east out 203.0.113.0/24 198.51.100.0/24 192.0.2.2 192.0.2.1
pol east in 198.51.100.0/24 203.0.113.0/24 192.0.2.1 192.0.2.2
pol east fwd 198.51.100.0/24 203.0.113.0/24 192.0.2.1 192.0.2.2

tn_capture west west0 "$TN_SCRATCH/esp.txt"
tn_ping west 198.51.100.1 203.0.113.1 4
sleep 0.3
n=$(tn_count_esp "$TN_SCRATCH/esp.txt")
tn_log "ESP packets seen on west0: $n"
[ "$n" -ge 8 ] || { cat "$TN_SCRATCH/esp.txt"; tn_fail "expected 8 ESP packets, saw $n"; }
tn_log "PASS"
