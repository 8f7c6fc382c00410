#!/bin/sh
# tiers: lifecycle quick
# timeout: 60
# pluto-rs (west) initiates to strongSwan (east) with --dontrekey and a Child SA lifetime
# of 12 s: no rekey, the SA expires at 12 s and strongSwan (1 h lifetime) gets the Delete.
# What PASS means: lc_expire in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=lifecycle-strongswan-init-dontrekey
WEST=pluto EAST=strongswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm REKEY=no
west_WHACK="--ipseclifetime 12"
LIFETIME=12
. "$(dirname "$TN_LIB")/peers/lifecycle.sh"
lc_expire
