#!/bin/sh
# tiers: interop
# timeout: 60
# another pluto-rs (east) initiates to pluto-rs (west): IPv4 transport, IKE DH ecp256, ESP AES-GCM-16.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-pluto-resp-transport4-ecp256-gcm
WEST=pluto EAST=pluto INITIATOR=east
MODE=transport4 DH=ecp256 ESP=gcm
. "$(dirname "$TN_LIB")/peers/scenario.sh"
