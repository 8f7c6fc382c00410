# Common library for test-net scenarios (testnet/scenarios/*.sh). Source it with
#   . "$TN_LIB"
# Scenarios run as root inside the UML guest (or a host with ESP), one at a time, each
# with a fresh scratch dir in $TN_SCRATCH. Everything a scenario creates through these
# helpers (namespaces, background processes) is removed on exit, pass or fail.
#
# Conventions: exit 0 = pass, anything else = fail; print what you check, so a
# failure's log (shown by the xtask) tells the story. Addresses: only 192.0.2.0/24,
# 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32.

set -u
TN_SCRATCH=${TN_SCRATCH:-$(mktemp -d)}
_tn_pids=""
_tn_netns=""

tn_log() { printf '%s [%s] %s\n' "$(date +%T.%N | cut -c1-12)" "${TN_NAME:-scenario}" "$*"; }

tn_fail() { tn_log "FAIL: $*"; exit 1; }

tn_cleanup() {
  for p in $_tn_pids; do kill "$p" 2>/dev/null; done
  [ -n "$_tn_pids" ] && sleep 0.3
  for p in $_tn_pids; do kill -9 "$p" 2>/dev/null; done
  for n in $_tn_netns; do ip netns del "$n" 2>/dev/null; done
  _tn_pids=""; _tn_netns=""
}
trap tn_cleanup EXIT
trap 'exit 130' INT TERM

# tn_bg CMD...: start a background process that cleanup will kill; its pid is in $TN_PID
tn_bg() { "$@" & TN_PID=$!; _tn_pids="$_tn_pids $TN_PID"; }

# tn_netns NAME: a fresh namespace with lo up
tn_netns() {
  ip netns del "$1" 2>/dev/null
  ip netns add "$1" || tn_fail "cannot create namespace $1"
  _tn_netns="$_tn_netns $1"
  ip -n "$1" link set lo up
}

# tn_in NS CMD...: run a command inside a namespace
tn_in() { ns=$1; shift; ip netns exec "$ns" "$@"; }

# tn_link NS1 DEV1 ADDR1/LEN NS2 DEV2 ADDR2/LEN: a veth pair between two namespaces,
# addressed and up (IPv6 addresses without duplicate address detection)
tn_link() {
  ip link add "$2" netns "$1" type veth peer name "$5" netns "$4" || tn_fail "veth $2-$5"
  _tn_addr "$1" "$3" "$2"; _tn_addr "$4" "$6" "$5"
  ip -n "$1" link set "$2" up; ip -n "$4" link set "$5" up
}

_tn_addr() {
  case "$2" in
    *:*) ip -n "$1" addr add "$2" dev "$3" nodad ;;
    *) ip -n "$1" addr add "$2" dev "$3" ;;
  esac
}

# tn_addr NS ADDR/LEN [DEV]: add an address (default on lo, e.g. a subnet's host)
tn_addr() { _tn_addr "$1" "$2" "${3:-lo}"; }

# tn_route NS PREFIX VIA [SRC]
tn_route() {
  if [ -n "${4:-}" ]; then ip -n "$1" route add "$2" via "$3" src "$4"
  else ip -n "$1" route add "$2" via "$3"; fi
}

# tn_pair: the standard two-host topology
#   west (192.0.2.1, 2001:db8:1::1) --veth-- east (192.0.2.2, 2001:db8:1::2)
#   west's subnet 198.51.100.0/24 (host .1 on lo), east's 203.0.113.0/24 (host .1 on lo)
tn_pair() {
  tn_netns west; tn_netns east
  tn_link west west0 192.0.2.1/24 east east0 192.0.2.2/24
  _tn_addr west 2001:db8:1::1/64 west0; _tn_addr east 2001:db8:1::2/64 east0
  tn_addr west 198.51.100.1/32; tn_addr east 203.0.113.1/32
  tn_route west 203.0.113.0/24 192.0.2.2 198.51.100.1
  tn_route east 198.51.100.0/24 192.0.2.1 203.0.113.1
}

# tn_wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds; fail after SECONDS
tn_wait_for() {
  secs=$1; shift
  n=$(echo "$secs * 10" | bc | cut -d. -f1)
  while [ "$n" -gt 0 ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1; n=$((n - 1))
  done
  tn_fail "timed out after ${secs}s waiting for: $*"
}

# tn_capture NS DEV FILE [FILTER...]: start tcpdump (cleaned up on exit); default
# filter: ESP and ESP-in-UDP on 4500
tn_capture() {
  ns=$1; dev=$2; file=$3; shift 3
  if [ $# -eq 0 ]; then set -- esp or udp port 4500; fi
  tn_bg ip netns exec "$ns" tcpdump -l -n -i "$dev" "$@" >"$file" 2>/dev/null
  sleep 0.3
}

# tn_count_esp FILE: how many ESP packets (plain or UDP-encapsulated) a capture holds
tn_count_esp() { grep -cE 'ESP\(spi=|UDP-encap: ESP' "$1" 2>/dev/null || true; }

# tn_ping NS SRC DST [COUNT]: pings that must all be answered
tn_ping() {
  tn_in "$1" ping -n -q -c "${4:-3}" -i 0.2 -W 2 -I "$2" "$3" || tn_fail "ping $2 -> $3 in $1"
}

# Where the peers are installed (testnet/setup.sh puts them there).
TN_LIBRESWAN=${TN_LIBRESWAN:-/opt/libreswan-4.10}
