#!/bin/sh
# tiers: lifecycle
# timeout: 60
# pluto-rs (west) routes a connection with --drop to a peer that never answers (east's
# kernel drops IKE); a client behind west (wcl, 198.51.100.10) pings east's subnet: the
# trap starts a negotiation that never ends, and its negotiation shunt must show on the
# wire: silence: no echo on the veth, nothing back.
# What PASS means: lc_shunt in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=lifecycle-silent-init-negoshunt-drop
WEST=pluto EAST=none INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm
west_WHACK="--drop"
SHUNT=drop PHASE=negotiation
. "$(dirname "$TN_LIB")/peers/lifecycle.sh"
lc_shunt
