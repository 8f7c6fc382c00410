#!/bin/sh
# tiers: hostile
# timeout: 90
# pluto-rs (west) initiates to libreswan (east); SIGKILL of pluto-rs right after
# `whack --rekey-ike`, its SAs and policies left in the kernel; a new pluto-rs must
# remove them, and the tunnel be back within 10 s. libreswan 4.10 keeps the dead IKE
# SA although the new IKE_AUTH carries INITIAL_CONTACT (seen with and without the
# rekey before the kill, 2026-12-03): the scenario pins that, two IKE SAs at the
# peer, so that a change on either side shows. What PASS means: ch_crash in
# testnet/peers/chaos.sh.
. "$TN_LIB"
TN_NAME=hostile-chaos-libreswan-crash
WEST=pluto EAST=libreswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm REKEY=yes
west_WHACK="--pfs "
PEER_IKE_SAS=2
. "$(dirname "$TN_LIB")/peers/chaos.sh"
ch_crash
