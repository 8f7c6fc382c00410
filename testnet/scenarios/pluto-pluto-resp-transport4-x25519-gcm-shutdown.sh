#!/bin/sh
# tiers: interop
# timeout: 60
# another pluto-rs (east) initiates to pluto-rs (west): IPv4 transport, IKE DH x25519, ESP AES-GCM-16,
# ended by `whack --shutdown` on pluto-rs: it must send Deletes, exit, and leave no SA
# in either kernel and no policy in its own.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-pluto-resp-transport4-x25519-gcm-shutdown
WEST=pluto EAST=pluto INITIATOR=east
MODE=transport4 DH=x25519 ESP=gcm END=shutdown
. "$(dirname "$TN_LIB")/peers/scenario.sh"
