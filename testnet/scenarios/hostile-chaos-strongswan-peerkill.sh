#!/bin/sh
# tiers: hostile
# timeout: 120
# pluto-rs (west) initiates to strongswan (east) with --dpddelay 2 --dpdtimeout 6 over netem
# (10 % loss, duplication, reordering, 200 ms each way); strongswan is SIGKILLed: liveness
# must declare it dead within 2+6+5 s and west initiate again once it is back. What
# PASS means: lc_dpd in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=hostile-chaos-strongswan-peerkill
WEST=pluto EAST=strongswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm REKEY=yes
west_WHACK="--dpddelay 2 --dpdtimeout 6"
DPDDELAY=2 DPDTIMEOUT=6 RESTORE=initiate
NETEM="delay 200ms loss 10% duplicate 10% reorder 25% 50%"
. "$(dirname "$TN_LIB")/peers/chaos.sh"
lc_dpd
