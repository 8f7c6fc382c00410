#!/bin/sh
# Usage: sh testnet/peers/matrix.sh [WORKDIR]
#
# Prints the interop matrix of the last `cargo xtask testnet <tier>` run as a markdown
# table (for docs/interop.md): one row per pluto-rs scenario with its peer, pluto-rs's
# role, mode, key exchange, ESP transform, identity type, result and duration, and above it the peer
# versions the scenarios logged at run time (from the installed packages).
# WORKDIR defaults to $CARGO_TARGET_DIR/testnet/interop (else target/testnet/interop).
set -u
here=$(dirname "$(readlink -f "$0")")
work=${1:-${CARGO_TARGET_DIR:-$here/../../target}/testnet/interop}
[ -d "$work" ] || { echo "no test-net work dir at $work: run cargo xtask testnet interop first" >&2; exit 2; }

rows=$(mktemp); trap 'rm -f "$rows"' EXIT
versions= standin=
tab=$(printf '\t')
for jd in "$work"/j*; do
  [ -f "$jd/cases.list" ] || continue
  i=0
  while IFS="$tab" read -r kind what arg; do
    i=$((i + 1))
    case "$kind/$what" in scenario/pluto-*) ;; *) continue ;; esac
    name=${what%.sh}
    # pluto-<peer>-<role>-<mode>-<dh>-<esp>[-<ids>]
    set -- $(echo "$name" | tr '-' ' ')
    [ $# -eq 6 ] || [ $# -eq 7 ] || continue
    peer=$2 role=$3 mode=$4 dh=$5 esp=$6 ids=${7:-fqdn}
    if [ -f "$jd/rc/$i" ]; then
      read -r rc secs < "$jd/rc/$i"
      if [ "$rc" = 0 ]; then result=pass; else result="**FAIL**"; fi
      secs=$(printf '%.1f s' "$secs" 2>/dev/null || echo "$secs")
    else
      result="**not run**" secs=-
    fi
    log="$jd/logs/$i.log"
    if [ -z "$versions" ] && [ -f "$log" ]; then
      versions=$(sed -n 's/.*\] versions: //p' "$log" | head -1)
    fi
    [ -f "$log" ] && grep -q 'pluto-rs sides played by' "$log" && standin=yes
    case $peer in
      strongswan) p=strongSwan ;; libreswan) p=libreswan ;; pluto) p=pluto-rs ;; *) p=$peer ;;
    esac
    case $role in init) r=initiator ;; resp) r=responder ;; *) r=$role ;; esac
    case $mode in
      tunnel4) m="tunnel IPv4" ;; tunnel6) m="tunnel IPv6" ;; transport4) m="transport IPv4" ;; *) m=$mode ;;
    esac
    case $esp in gcm) e="AES-GCM-16 (128)" ;; cbc) e="AES-CBC-128 + HMAC-SHA2-256-128" ;; *) e=$esp ;; esac
    case $ids in
      fqdn) d=FQDN ;; email) d=USER_FQDN ;; ip) d="IP address" ;;
      badpsk) d="FQDN; wrong PSK first, must fail, then --rereadsecrets" ;;
      shutdown) d="FQDN; ended by whack --shutdown" ;;
      invalke) d="FQDN; first KE refused, INVALID_KE_PAYLOAD round trip" ;;
      encap) d="FQDN; ESP-in-UDP forced (no NAT)" ;; *) d=$ids ;;
    esac
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | `%s` |\n' "$p" "$r" "$m" "$dh" "$e" "$d" "$result" "$secs" "$name" >> "$rows"
  done < "$jd/cases.list"
done

pass=$(grep -c '| pass |' "$rows")
total=$(wc -l < "$rows")
echo "Run: $(date -u -r "$work" '+%Y-%m-%d %H:%M UTC' 2>/dev/null || echo '?'); versions: ${versions:-unknown}."
[ -n "$standin" ] && echo "Stand-in run: every pluto-rs side was played by libreswan (TN_PLUTO_AS=libreswan)."
echo "Result: $pass of $total scenarios passed."
echo
echo "| Peer | pluto-rs is | Mode | IKE DH | ESP | IDs, variant | Result | Time | Scenario |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
sort "$rows"
