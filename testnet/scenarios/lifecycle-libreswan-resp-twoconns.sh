#!/bin/sh
# tiers: lifecycle
# timeout: 60
# libreswan (east) initiates to pluto-rs (west), which has two connections to east:
# a decoy for another east subnet, added first, and the scenario's. IKE_SA_INIT finds
# the decoy by the addresses; the Child SA's selectors are the scenario's, so west
# must switch connections in IKE_AUTH instead of answering TS_UNACCEPTABLE.
# What PASS means: lc_twoconns in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=lifecycle-libreswan-resp-twoconns
WEST=pluto EAST=libreswan INITIATOR=east
MODE=tunnel4 DH=x25519 ESP=gcm
west_DECOY=192.0.2.128/26
. "$(dirname "$TN_LIB")/peers/lifecycle.sh"
lc_twoconns
