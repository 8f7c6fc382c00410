#!/bin/sh
# tiers: interop
# timeout: 60
# pluto-rs (west) initiates to strongSwan (east): IPv4 tunnel, IKE DH x25519, ESP AES-GCM-16,
# with ESP-in-UDP forced on both sides (whack --encapsulation yes; no NAT on the path):
# every ESP packet on the veth must be UDP-encapsulated on port 4500.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-strongswan-init-tunnel4-x25519-gcm-encap
WEST=pluto EAST=strongswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm ENCAP=yes
. "$(dirname "$TN_LIB")/peers/scenario.sh"
