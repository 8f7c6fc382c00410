#!/bin/sh
# tiers: interop
# timeout: 60
# strongSwan (east) initiates to pluto-rs (west): IPv4 tunnel, IKE DH ecp256, ESP AES-CBC + HMAC-SHA2-256;
# the initiator's first KE is for the other group, which the responder refuses: an
# INVALID_KE_PAYLOAD round trip must happen and the tunnel come up with ecp256.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-strongswan-resp-tunnel4-ecp256-cbc-invalke
WEST=pluto EAST=strongswan INITIATOR=east
MODE=tunnel4 DH=ecp256 ESP=cbc INVALKE=yes
. "$(dirname "$TN_LIB")/peers/scenario.sh"
