#!/bin/sh
# tiers: lifecycle
# timeout: 60
# pluto-rs (west) routes a connection with --failreject --keyingtries 1 to strongSwan (east) but holds
# a wrong PSK: traffic from a client behind west (wcl, 198.51.100.10) starts a negotiation
# that fails (AUTHENTICATION_FAILED), and the failure shunt must show on the wire: an ICMP unreachable back to the sender, no echo on the veth.
# What PASS means: lc_shunt in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=lifecycle-strongswan-init-failshunt-reject
WEST=pluto EAST=strongswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm BADPSK=yes
west_WHACK="--failreject"
SHUNT=reject PHASE=failure
. "$(dirname "$TN_LIB")/peers/lifecycle.sh"
lc_shunt
