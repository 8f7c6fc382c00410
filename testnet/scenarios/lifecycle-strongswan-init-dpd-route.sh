#!/bin/sh
# tiers: lifecycle
# timeout: 90
# pluto-rs (west) routes the connection to strongSwan (east) with --dpddelay 2 --timeout 6;
# traffic brings it up. strongSwan is killed with SIGKILL (and its kernel state flushed):
# pluto-rs must declare it dead within 2+6 s (+5 s slack) and fall back to the trap, and
# traffic must bring the tunnel up again once strongSwan is back.
# What PASS means: lc_dpd in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=lifecycle-strongswan-init-dpd-route
WEST=pluto EAST=strongswan INITIATOR=west
MODE=tunnel4 DH=ecp256 ESP=gcm REKEY=yes
west_WHACK="--dpddelay 2 --timeout 6"
DPDDELAY=2 DPDTIMEOUT=6 RESTORE=route
. "$(dirname "$TN_LIB")/peers/lifecycle.sh"
lc_dpd
