#!/bin/sh
# tiers: quick interop
# timeout: 60
# strongSwan (east) initiates to pluto-rs (west): IPv6 tunnel, IKE DH x25519, ESP AES-CBC + HMAC-SHA2-256.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-strongswan-resp-tunnel6-x25519-cbc
WEST=pluto EAST=strongswan INITIATOR=east
MODE=tunnel6 DH=x25519 ESP=cbc
. "$(dirname "$TN_LIB")/peers/scenario.sh"
