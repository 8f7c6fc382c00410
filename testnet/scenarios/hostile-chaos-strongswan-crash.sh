#!/bin/sh
# tiers: hostile
# timeout: 90
# pluto-rs (west) initiates to strongswan (east); SIGKILL of pluto-rs right after
# `whack --rekey-ike`, its SAs and policies left in the kernel; a new pluto-rs must
# remove them, and the tunnel be back within 10 s with the peer holding one IKE SA.
# What PASS means: ch_crash in testnet/peers/chaos.sh.
. "$TN_LIB"
TN_NAME=hostile-chaos-strongswan-crash
WEST=pluto EAST=strongswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm REKEY=yes
west_WHACK=""
. "$(dirname "$TN_LIB")/peers/chaos.sh"
ch_crash
