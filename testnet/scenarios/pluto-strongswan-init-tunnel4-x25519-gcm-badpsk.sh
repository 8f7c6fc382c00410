#!/bin/sh
# tiers: interop
# timeout: 90
# pluto-rs (west) initiates to strongSwan (east): IPv4 tunnel, IKE DH x25519, ESP AES-GCM-16,
# with west's PSK wrong at first: that initiate must fail cleanly (AUTHENTICATION_FAILED,
# no SA), and after `whack --rereadsecrets` with the right PSK the tunnel must work.
# What PASS means and how to run it without pluto-rs: testnet/peers/scenario.sh.
. "$TN_LIB"
TN_NAME=pluto-strongswan-init-tunnel4-x25519-gcm-badpsk
WEST=pluto EAST=strongswan INITIATOR=west
MODE=tunnel4 DH=x25519 ESP=gcm BADPSK=yes
. "$(dirname "$TN_LIB")/peers/scenario.sh"
