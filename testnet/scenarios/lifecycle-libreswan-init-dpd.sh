#!/bin/sh
# tiers: lifecycle
# timeout: 90
# pluto-rs (west) initiates to libreswan (east) with --dpddelay 2 --dpdtimeout 6; libreswan
# is killed with SIGKILL (and its kernel state flushed): pluto-rs must declare it dead
# within 2+6 s (+5 s slack) and, the connection having been initiated (up), initiate it
# again by itself once libreswan is back. What PASS means: lc_dpd in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=lifecycle-libreswan-init-dpd
WEST=pluto EAST=libreswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm REKEY=yes
west_WHACK="--dpddelay 2 --dpdtimeout 6"
DPDDELAY=2 DPDTIMEOUT=6 RESTORE=initiate
. "$(dirname "$TN_LIB")/peers/lifecycle.sh"
lc_dpd
