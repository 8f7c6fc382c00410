#!/bin/sh
# tiers: lifecycle
# timeout: 60
# libreswan (east) initiates to pluto-rs (west), which has --dontrekey and a Child SA
# lifetime of 12 s: pluto-rs must not rekey, the SA expires at 12 s and libreswan (8 h
# lifetime, rekey=no) gets the Delete. What PASS means: lc_expire in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=lifecycle-libreswan-resp-dontrekey
WEST=pluto EAST=libreswan INITIATOR=east
MODE=tunnel4 DH=x25519 ESP=cbc REKEY=no
west_WHACK="--ipseclifetime 12"
LIFETIME=12
. "$(dirname "$TN_LIB")/peers/lifecycle.sh"
lc_expire
