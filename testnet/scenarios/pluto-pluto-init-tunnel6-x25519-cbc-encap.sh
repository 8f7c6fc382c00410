#!/bin/sh
# tiers: interop
# timeout: 60
# pluto-rs (west) initiates to another pluto-rs (east): IPv6 tunnel, IKE DH x25519, ESP AES-CBC + HMAC-SHA2-256,
# with ESP-in-UDP forced on both sides (whack --encapsulation yes; no NAT on the path):
# every ESP packet on the veth must be UDP-encapsulated on port 4500.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-pluto-init-tunnel6-x25519-cbc-encap
WEST=pluto EAST=pluto INITIATOR=west
MODE=tunnel6 DH=x25519 ESP=cbc ENCAP=yes
. "$(dirname "$TN_LIB")/peers/scenario.sh"
