#!/bin/sh
# tiers: quick interop
# timeout: 60
# pluto-rs (west) initiates to another pluto-rs (east): IPv4 tunnel, IKE DH x25519, ESP AES-GCM-16.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-pluto-init-tunnel4-x25519-gcm
WEST=pluto EAST=pluto INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm
. "$(dirname "$TN_LIB")/peers/scenario.sh"
