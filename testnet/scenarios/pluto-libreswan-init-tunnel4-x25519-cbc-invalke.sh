#!/bin/sh
# tiers: interop
# timeout: 60
# pluto-rs (west) initiates to libreswan (east): IPv4 tunnel, IKE DH x25519, ESP AES-CBC + HMAC-SHA2-256;
# the initiator's first KE is for the other group, which the responder refuses: an
# INVALID_KE_PAYLOAD round trip must happen and the tunnel come up with x25519.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-libreswan-init-tunnel4-x25519-cbc-invalke
WEST=pluto EAST=libreswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=cbc INVALKE=yes
. "$(dirname "$TN_LIB")/peers/scenario.sh"
