#!/bin/sh
# tiers: interop
# timeout: 60
# libreswan (east) initiates to pluto-rs (west): IPv6 tunnel, IKE DH x25519, ESP AES-CBC + HMAC-SHA2-256.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-libreswan-resp-tunnel6-x25519-cbc
WEST=pluto EAST=libreswan INITIATOR=east
MODE=tunnel6 DH=x25519 ESP=cbc
. "$(dirname "$TN_LIB")/peers/scenario.sh"
