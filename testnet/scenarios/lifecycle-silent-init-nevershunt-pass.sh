#!/bin/sh
# tiers: lifecycle
# timeout: 60
# pluto-rs (west) routes a connection with --pass: a never-negotiate shunt (libreswan 5's
# whack --pass/--drop/--reject); east's kernel drops IKE, so any negotiation would hang.
# A client behind west (wcl, 198.51.100.10) pings east's subnet: no IKE may be sent, and
# the shunt must show on the wire: the echoes cross the veth in clear text and are answered.
# What PASS means: lc_shunt in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=lifecycle-silent-init-nevershunt-pass
WEST=pluto EAST=none INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm
west_WHACK="--pass"
SHUNT=pass PHASE=never
. "$(dirname "$TN_LIB")/peers/lifecycle.sh"
lc_shunt
