#!/bin/sh
# tiers: lifecycle
# timeout: 60
# pluto-rs (west) routes a connection with --faildrop --keyingtries 1 to libreswan (east) but holds
# a wrong PSK: traffic from a client behind west (wcl, 198.51.100.10) starts a negotiation
# that fails (AUTHENTICATION_FAILED), and the failure shunt must show on the wire: silence: no echo on the veth, nothing back.
# What PASS means: lc_shunt in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=lifecycle-libreswan-init-failshunt-drop
WEST=pluto EAST=libreswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm BADPSK=yes
west_WHACK="--faildrop"
SHUNT=drop PHASE=failure
. "$(dirname "$TN_LIB")/peers/lifecycle.sh"
lc_shunt
