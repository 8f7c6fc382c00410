#!/bin/sh
# tiers: interop
# timeout: 60
# pluto-rs (west) initiates to another pluto-rs (east): IPv4 tunnel, IKE DH ecp256, ESP AES-GCM-16,
# USER_FQDN identities.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-pluto-init-tunnel4-ecp256-gcm-email
WEST=pluto EAST=pluto INITIATOR=west
MODE=tunnel4 DH=ecp256 ESP=gcm IDS=email
. "$(dirname "$TN_LIB")/peers/scenario.sh"
