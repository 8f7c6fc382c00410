#!/bin/sh
# tiers: interop
# timeout: 60
# libreswan (east) initiates to pluto-rs (west): IPv4 tunnel, IKE DH ecp256, ESP AES-CBC + HMAC-SHA2-256,
# with ESP-in-UDP forced on both sides (whack --encapsulation yes; no NAT on the path):
# every ESP packet on the veth must be UDP-encapsulated on port 4500.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-libreswan-resp-tunnel4-ecp256-cbc-encap
WEST=pluto EAST=libreswan INITIATOR=east
MODE=tunnel4 DH=ecp256 ESP=cbc ENCAP=yes
. "$(dirname "$TN_LIB")/peers/scenario.sh"
