#!/bin/sh
# tiers: lifecycle
# timeout: 120
# pluto-rs (west) initiates to strongSwan (east) and rekeys by its margin: Child SA
# lifetime 30 s, IKE SA 40 s, margin 10 s, no fuzz -> Child SA rekeys at 20, 40, 60 s,
# the IKE SA at 30 s; strongSwan keeps its 1 h / 4 h defaults. A ping -i 0.2 runs
# throughout and may lose one echo. What PASS means: lc_rekey in testnet/peers/lifecycle.sh.
. "$TN_LIB"
TN_NAME=lifecycle-strongswan-init-rekey
WEST=pluto EAST=strongswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm REKEY=yes
west_WHACK="--ipseclifetime 30 --ikelifetime 40 --rekeymargin 10 --rekeyfuzz 0"
REKEYER=pluto CHILD_AT=20 CHILD_EVERY=20 IKE_AT=30
. "$(dirname "$TN_LIB")/peers/lifecycle.sh"
lc_rekey
