#!/bin/sh
# tiers: lifecycle
# timeout: 120
# pluto-rs (west) initiates to strongSwan (east), and strongSwan rekeys: its Child SA
# rekey_time 15 s, IKE SA rekey_time 25 s, no randomness; pluto-rs keeps its 8 h
# defaults and must answer every CREATE_CHILD_SA, move to the new SAs and delete
# nothing the peer still uses. A ping -i 0.2 runs throughout.
# What PASS means: lc_rekey in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=lifecycle-strongswan-init-peer-rekey
WEST=pluto EAST=strongswan INITIATOR=west
MODE=tunnel4 DH=ecp256 ESP=gcm REKEY=yes
east_SWAN_IKE="rekey_time = 25s
rand_time = 0s"
east_SWAN_CHILD="rekey_time = 15s
life_time = 60s
rand_time = 0s"
REKEYER=peer CHILD_AT=15 CHILD_EVERY=15 IKE_AT=25
. "$(dirname "$TN_LIB")/peers/lifecycle.sh"
lc_rekey
