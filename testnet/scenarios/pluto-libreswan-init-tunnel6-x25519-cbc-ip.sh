#!/bin/sh
# tiers: interop
# timeout: 60
# pluto-rs (west) initiates to libreswan (east): IPv6 tunnel, IKE DH x25519, ESP AES-CBC + HMAC-SHA2-256,
# IP address identities.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-libreswan-init-tunnel6-x25519-cbc-ip
WEST=pluto EAST=libreswan INITIATOR=west
MODE=tunnel6 DH=x25519 ESP=cbc IDS=ip
. "$(dirname "$TN_LIB")/peers/scenario.sh"
