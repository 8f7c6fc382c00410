#!/bin/sh
# tiers: lifecycle quick
# timeout: 60
# pluto-rs (west) routes a connection with --failpass --keyingtries 1 to strongSwan (east) but holds
# a wrong PSK: traffic from a client behind west (wcl, 198.51.100.10) starts a negotiation
# that fails (AUTHENTICATION_FAILED), and the failure shunt must show on the wire: the ICMP echo crosses the veth in clear text and is answered.
# What PASS means: lc_shunt in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=lifecycle-strongswan-init-failshunt-pass
WEST=pluto EAST=strongswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm BADPSK=yes
west_WHACK="--failpass"
SHUNT=pass PHASE=failure
. "$(dirname "$TN_LIB")/peers/lifecycle.sh"
lc_shunt
