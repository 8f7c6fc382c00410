#!/bin/sh
# tiers: interop
# timeout: 60
# pluto-rs (west) initiates to libreswan (east): IPv6 tunnel, IKE DH x25519, ESP AES-GCM-16,
# ended by `whack --shutdown` on pluto-rs: it must send Deletes, exit, and leave no SA
# in either kernel and no policy in its own.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-libreswan-init-tunnel6-x25519-gcm-shutdown
WEST=pluto EAST=libreswan INITIATOR=west
MODE=tunnel6 DH=x25519 ESP=gcm END=shutdown
. "$(dirname "$TN_LIB")/peers/scenario.sh"
