#!/bin/sh
# tiers: lifecycle
# timeout: 60
# pluto-rs (west) initiates to libreswan (east); whack --down-child removes the Child SA,
# and a second whack --initiate negotiates a new one over the IKE SA that is still up
# (CREATE_CHILD_SA, RFC 7296 1.3.1) instead of a second IKE SA. libreswan keeps its
# pfs=yes, so pluto-rs has --pfs: the new Child SA's request carries a KE.
# What PASS means: lc_newchild in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=lifecycle-libreswan-init-newchild
WEST=pluto EAST=libreswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm
west_WHACK="--pfs"
. "$(dirname "$TN_LIB")/peers/lifecycle.sh"
lc_newchild
