#!/bin/sh
# tiers: lifecycle
# timeout: 60
# strongSwan (east) initiates to pluto-rs (west), which has --dpddelay 2 --dpdtimeout 6;
# strongSwan is killed with SIGKILL (and its kernel state flushed): pluto-rs, the responder
# of a connection it neither initiated nor routed, must declare the peer dead within
# 2+6 s (+5 s slack) and tear the connection down. What PASS means: lc_dpd in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=lifecycle-strongswan-resp-dpd
WEST=pluto EAST=strongswan INITIATOR=east
MODE=tunnel4 DH=x25519 ESP=cbc REKEY=yes
west_WHACK="--dpddelay 2 --dpdtimeout 6"
DPDDELAY=2 DPDTIMEOUT=6 RESTORE=none
. "$(dirname "$TN_LIB")/peers/lifecycle.sh"
lc_dpd
