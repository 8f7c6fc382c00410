#!/bin/sh
# tiers: interop
# timeout: 60
# pluto-rs (west) initiates to another pluto-rs (east): IPv6 tunnel, IKE DH ecp256, ESP AES-GCM-16.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-pluto-init-tunnel6-ecp256-gcm
WEST=pluto EAST=pluto INITIATOR=west
MODE=tunnel6 DH=ecp256 ESP=gcm
. "$(dirname "$TN_LIB")/peers/scenario.sh"
