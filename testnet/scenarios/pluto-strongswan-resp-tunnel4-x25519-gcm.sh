#!/bin/sh
# tiers: interop
# timeout: 60
# strongSwan (east) initiates to pluto-rs (west): IPv4 tunnel, IKE DH x25519, ESP AES-GCM-16.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-strongswan-resp-tunnel4-x25519-gcm
WEST=pluto EAST=strongswan INITIATOR=east
MODE=tunnel4 DH=x25519 ESP=gcm
. "$(dirname "$TN_LIB")/peers/scenario.sh"
