#!/bin/sh
# tiers: interop
# timeout: 60
# libreswan (east) initiates to pluto-rs (west): IPv4 transport, IKE DH x25519, ESP AES-CBC + HMAC-SHA2-256,
# IP address identities.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-libreswan-resp-transport4-x25519-cbc-ip
WEST=pluto EAST=libreswan INITIATOR=east
MODE=transport4 DH=x25519 ESP=cbc IDS=ip
. "$(dirname "$TN_LIB")/peers/scenario.sh"
