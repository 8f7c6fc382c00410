#!/bin/sh
# tiers: hostile
# timeout: 150
# pluto-rs (west) and libreswan (east) over netem on both ends of the veth (10 % loss,
# 10 % duplication, reordering, 200 ms delay each way): the tunnel forms, rekeys
# (Child SA and IKE SA) and is deleted from both kernels. What PASS means: ch_churn in
# testnet/peers/chaos.sh.
. "$TN_LIB"
TN_NAME=hostile-chaos-libreswan-churn
WEST=pluto EAST=libreswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm REKEY=yes
west_WHACK="--pfs "
NETEM="delay 200ms loss 10% duplicate 10% reorder 25% 50%"
. "$(dirname "$TN_LIB")/peers/chaos.sh"
ch_churn
