#!/bin/sh
# tiers: lifecycle
# timeout: 120
# libreswan (east) initiates to pluto-rs (west), which rekeys by its margin as the
# responder: the manual has a responder-side SA wait until half the margin, so with
# Child SA lifetime 30 s, IKE SA 40 s, margin 10 s, no fuzz the first Child SA rekey
# comes at 25 s and the next ones (of SAs pluto-rs now initiated) 20 s later, the IKE
# SA rekey at 35 s; libreswan keeps its 8 h defaults and its pfs=yes, so pluto-rs has
# --pfs: its Child SA rekeys carry a KE. A ping -i 0.2 runs throughout.
# What PASS means: lc_rekey in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=lifecycle-libreswan-resp-rekey
WEST=pluto EAST=libreswan INITIATOR=east
MODE=tunnel4 DH=ecp256 ESP=cbc REKEY=yes
west_WHACK="--pfs --ipseclifetime 30 --ikelifetime 40 --rekeymargin 10 --rekeyfuzz 0"
REKEYER=pluto CHILD_AT=25 CHILD_EVERY=20 IKE_AT=35
. "$(dirname "$TN_LIB")/peers/lifecycle.sh"
lc_rekey
