#!/bin/sh
# tiers: lifecycle
# timeout: 60
# pluto-rs (west) initiates to strongSwan (east); whack --down-child removes the Child SA,
# and a second whack --initiate negotiates a new one over the IKE SA that is still up
# (CREATE_CHILD_SA, RFC 7296 1.3.1) instead of a second IKE SA.
# What PASS means: lc_newchild in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=lifecycle-strongswan-init-newchild
WEST=pluto EAST=strongswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm
. "$(dirname "$TN_LIB")/peers/lifecycle.sh"
lc_newchild
