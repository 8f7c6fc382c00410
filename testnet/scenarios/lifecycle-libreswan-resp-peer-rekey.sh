#!/bin/sh
# tiers: lifecycle
# timeout: 120
# libreswan (east) initiates to pluto-rs (west) and rekeys by its margin: salifetime
# 30 s, ikelifetime 40 s, rekeymargin 10 s, rekeyfuzz 0% -> Child SA rekeys at 20, 40,
# 60 s, the IKE SA at 30 s; pluto-rs keeps its 8 h defaults and answers. A ping -i 0.2
# runs throughout. What PASS means: lc_rekey in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=lifecycle-libreswan-resp-peer-rekey
WEST=pluto EAST=libreswan INITIATOR=east
MODE=tunnel4 DH=x25519 ESP=gcm REKEY=yes
east_LSW="salifetime=30s
ikelifetime=40s
rekeymargin=10s
rekeyfuzz=0%"
REKEYER=peer CHILD_AT=20 CHILD_EVERY=20 IKE_AT=30
. "$(dirname "$TN_LIB")/peers/lifecycle.sh"
lc_rekey
