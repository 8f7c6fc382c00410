#!/bin/sh
# tiers: interop
# timeout: 60
# pluto-rs (west) initiates to strongSwan (east): IPv4 tunnel, IKE DH ecp256, ESP AES-CBC + HMAC-SHA2-256.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-strongswan-init-tunnel4-ecp256-cbc
WEST=pluto EAST=strongswan INITIATOR=west
MODE=tunnel4 DH=ecp256 ESP=cbc
. "$(dirname "$TN_LIB")/peers/scenario.sh"
