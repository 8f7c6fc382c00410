#!/bin/bash
# peers.sh: IKEv2 responders under strongSwan's load tester (or pluto-loadgen), one
# interleaved run.
#
# `cargo xtask bench peers` runs this and summarises its RESULT lines; it can also be
# run by hand (as root, from the workspace root, after a release build).
#
# The load tester (charon with the load-tester plugin, testnet/bench/build-loadtester.sh)
# runs in netns pb-lt (192.0.2.1); the responder under test in netns pb-resp
# (192.0.2.2), on a veth pair. INITIATOR=loadgen runs pluto-rs's own load generator
# there instead ($LOADGEN, default $PLUTORS/pluto-loadgen: many initiators in one
# process, one KE value per group for all its SAs, so it costs less per SA than the
# responders and can load them past the load tester's own limit); it offers the same
# proposals, PSK and responder ID, with at most $LIMIT setups in flight. Responders:
#   plutors    pluto-rs from $PLUTORS (pluto and whack; default target/release)
#   plutors_base  the same from $PLUTORS_BASE: an older build, for before/after in one run
#   charon     Debian's charon-systemd 5.9.8 with swanctl
#   charon_fake   the load tester's charon as responder with its fake kernel (Child SAs
#              "installed", no kernel work), configured through swanctl the same way
#   plutors_fake  pluto-rs with --fake-xfrm (XFRM requests acknowledged unsent): with
#              charon_fake, the comparison without the kernel's share
#   libreswan  libreswan 4.10's pluto from $LSW
# All of them: IKEv2, PSK (32 bytes), IKE aes128-sha256-<dh>, ESP aes128gcm16. The host
# kernel has no ESP, so every responder's Child SA install fails alike; the IKE SA is
# what is counted.
#
# Per responder, DH group and repetition (responders interleaved, so that drifts of the
# shared machine hit all of them alike), each on a freshly started responder after a
# warm-up of $WARMUP SAs:
#   cpu  $N_CPU IKE SAs set up and deleted (delete_after_established): responder CPU
#        (utime + stime of the whole process, /proc/PID/stat) per IKE SA it logged as
#        established, and setups per second (N / wall time of the load tester).
#   mem  $MEM_N IKE SAs set up and held: (VmRSS after - before) / N.
# The responder is pinned to CPU $RESP_CPU and the load tester to $LT_CPU.
#
# Output: lines "RESULT <responder> <dh> <mode> <rep> <key> <value> <initiator>" on stdout
# (also in $OUT/results.tsv), progress on stderr. With the loadgen, cpu runs add its own
# figures: lg_cpu_us_per_sa (its process CPU per IKE SA it established), lg_failed,
# lg_retransmits, lg_child (Child SAs set up; 0 when the responder refused them). With PERF=1 the plutors cpu runs are recorded
# with `perf record -g` (cpu-clock) into $OUT/<run>/perf.data.
#
# Env: RESPONDERS DHS REPS MODES ("cpu mem") N_CPU MEM_N WARMUP INITIATORS LIMIT MAXT OUT PLUTORS LT LSW
#      INITIATOR (loadtester|loadgen) LOADGEN LG_SOCKETS
#      RESP_CPU LT_CPU PERF PLUTO_ARGS (extra pluto-rs options)
set -u
export LC_ALL=C
RESPONDERS=${RESPONDERS:-"plutors charon libreswan"}
DHS=${DHS:-"x25519 ecp256"}
REPS=${REPS:-3}
N_CPU=${N_CPU:-3000}
MEM_N=${MEM_N:-10000}
WARMUP=${WARMUP:-16}
INITIATORS=${INITIATORS:-4}
LIMIT=${LIMIT:-64}
MAXT=${MAXT:-600}
OUT=${OUT:-/tmp/bench-peers}
PLUTORS=${PLUTORS:-$(pwd)/target/release}
LT=${LT:-/opt/strongswan-lt}
LSW=${LSW:-/opt/libreswan-4.10}
RESP_CPU=${RESP_CPU:-1}
LT_CPU=${LT_CPU:-0}
PERF=${PERF:-0}
MODES=${MODES:-"cpu mem"}
PLUTO_ARGS=${PLUTO_ARGS:-}
INITIATOR=${INITIATOR:-loadtester}
LOADGEN=${LOADGEN:-$PLUTORS/pluto-loadgen}
LG_SOCKETS=${LG_SOCKETS:-16}
NS_LT=pb-lt
NS_RESP=pb-resp
PSK=pb-psk-0123456789abcdef0123456789
HZ=$(getconf CLK_TCK)
CHARON_PLUGINS="aes sha2 sha1 random nonce x509 pubkey pkcs1 pem openssl curve25519 hmac kdf gcm"

die() { echo "peers: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
case $INITIATOR in
  loadtester) [ -x "$LT/libexec/ipsec/charon" ] || die "no load tester in $LT (testnet/bench/build-loadtester.sh)";;
  loadgen) [ -x "$LOADGEN" ] || die "no pluto-loadgen at $LOADGEN (cargo build --release -p pluto-loadgen)";;
  *) die "unknown INITIATOR $INITIATOR (loadtester, loadgen)";;
esac
for r in $RESPONDERS; do
  case $r in
    plutors) [ -x "$PLUTORS/pluto" ] && [ -x "$PLUTORS/whack" ] || die "no pluto/whack in $PLUTORS";;
    plutors_base) [ -x "${PLUTORS_BASE:-}/pluto" ] && [ -x "${PLUTORS_BASE:-}/whack" ] || die "no pluto/whack in PLUTORS_BASE=${PLUTORS_BASE:-}";;
    charon) [ -x /usr/sbin/charon-systemd ] && command -v swanctl > /dev/null || die "no charon-systemd/swanctl (testnet/setup.sh)";;
    charon_fake) command -v swanctl > /dev/null || die "no swanctl (testnet/setup.sh)";;
    plutors_fake) [ -x "$PLUTORS/pluto" ] || die "no pluto in $PLUTORS";;
    libreswan) [ -x "$LSW/usr/libexec/ipsec/pluto" ] || die "no libreswan in $LSW (testnet/setup.sh)";;
    *) die "unknown responder $r (plutors, plutors_base, plutors_fake, charon, charon_fake, libreswan)";;
  esac
done
for ns in $NS_LT $NS_RESP; do
  ip netns list | grep -qw "^$ns" && die "netns $ns exists: another run? (ip netns del $ns)"
done
mkdir -p "$OUT"
: > "$OUT/results.tsv"

RPID=""; TPID=""; PPID_PERF=""
stop_all() {
  [ -n "$TPID" ] && { kill -TERM "$TPID" 2>/dev/null; wait "$TPID" 2>/dev/null; }
  [ -n "$PPID_PERF" ] && { kill -INT "$PPID_PERF" 2>/dev/null; wait "$PPID_PERF" 2>/dev/null; }
  if [ -n "$RPID" ]; then
    kill -TERM "$RPID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$RPID" 2>/dev/null; wait "$RPID" 2>/dev/null
  fi
  RPID=""; TPID=""; PPID_PERF=""
}
net_down() { ip netns del $NS_LT 2>/dev/null; ip netns del $NS_RESP 2>/dev/null; true; }
trap 'stop_all; net_down; exit 130' INT TERM
trap 'stop_all; net_down' EXIT

net_up() {
  modprobe veth 2>/dev/null; modprobe xfrm_user 2>/dev/null
  ip netns add $NS_LT && ip netns add $NS_RESP || return 1
  ip link add pb-lt0 netns $NS_LT type veth peer name pb-resp0 netns $NS_RESP || return 1
  ip -n $NS_LT link set lo up; ip -n $NS_RESP link set lo up
  ip -n $NS_LT addr add 192.0.2.1/24 dev pb-lt0; ip -n $NS_LT link set pb-lt0 up
  ip -n $NS_RESP addr add 192.0.2.2/24 dev pb-resp0; ip -n $NS_RESP link set pb-resp0 up
}

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
settle() {   # until the responder is idle (at most 5 s)
  local a b; a=$(cpu_ticks "$RPID")
  for _ in $(seq 25); do sleep 0.2; b=$(cpu_ticks "$RPID"); [ "$b" = "$a" ] && break; a=$b; done
}
result() {   # key value
  printf 'RESULT %s %s %s %s %s %s %s\n' "$R" "$DH" "$MODE" "$REP" "$1" "$2" "$INITIATOR" | tee -a "$OUT/results.tsv"
}

# Common charon settings for the responders and the load tester: no DoS protection,
# no cookies, big tables (the load tester's own example configuration does the same).
CHARON_COMMON="threads = 16
  ikesa_table_size = 4096
  ikesa_table_segments = 16
  reuse_ikesa = no
  install_routes = no
  retransmit_timeout = 2
  dos_protection = no
  block_threshold = 100000
  cookie_threshold = 100000
  init_limit_half_open = 0"

dh_libreswan() { case $1 in x25519) echo dh31;; ecp256) echo dh19;; *) echo "$1";; esac; }

start_plutors_base() { PLUTORS=$PLUTORS_BASE start_plutors; }
start_plutors_fake() { PLUTO_ARGS="$PLUTO_ARGS --fake-xfrm" start_plutors; }

start_plutors() {
  mkdir -p "$D/resp/run"
  printf '@srv.strongswan.org %%any : PSK "%s"\n' "$PSK" > "$D/resp/ipsec.secrets"
  # shellcheck disable=SC2086
  taskset -c "$RESP_CPU" ip netns exec $NS_RESP "$PLUTORS/pluto" --nofork --stderrlog \
    --rundir "$D/resp/run" --secretsfile "$D/resp/ipsec.secrets" $PLUTO_ARGS > "$D/resp/daemon.log" 2>&1 &
  RPID=$!
  for _ in $(seq 100); do [ -S "$D/resp/run/pluto.ctl" ] && break; sleep 0.1; done
  local w="ip netns exec $NS_RESP $PLUTORS/whack --ctlsocket $D/resp/run/pluto.ctl"
  $w --name lt --ikev2 --psk --encrypt --tunnel --pfs --ike "aes128-sha2_256-$(dh_libreswan "$DH")" \
    --esp aes_gcm128-none --id @srv.strongswan.org --host 192.0.2.2 --updown %disabled \
    --to --id %any --host %any > "$D/resp/whack-add" 2>&1 || { cat "$D/resp/whack-add" >&2; return 1; }
  $w --listen > /dev/null 2>&1
}

start_libreswan() {
  mkdir -p "$D/resp/nss" "$D/resp/run" "$D/resp/ipsec.d"
  certutil -N -d "sql:$D/resp/nss" --empty-password || return 1
  cat > "$D/resp/ipsec.conf" <<EOC
config setup
    plutodebug=none
conn lt
    ikev2=yes
    authby=secret
    left=192.0.2.2
    leftid=@srv.strongswan.org
    right=%any
    rightid=%any
    ike=aes128-sha2_256-$(dh_libreswan "$DH")
    esp=aes_gcm128-none
    leftupdown=%disabled
    auto=add
EOC
  printf '@srv.strongswan.org %%any : PSK "%s"\n' "$PSK" > "$D/resp/ipsec.secrets"
  taskset -c "$RESP_CPU" ip netns exec $NS_RESP "$LSW/usr/libexec/ipsec/pluto" --nofork --stderrlog \
    --log-no-time --config "$D/resp/ipsec.conf" --rundir "$D/resp/run" --nssdir "$D/resp/nss" \
    --ipsecdir "$D/resp/ipsec.d" --secretsfile "$D/resp/ipsec.secrets" --dumpdir "$D/resp/run" \
    > "$D/resp/daemon.log" 2>&1 &
  RPID=$!
  for _ in $(seq 100); do [ -S "$D/resp/run/pluto.ctl" ] && break; sleep 0.1; done
  ip netns exec $NS_RESP "$LSW/usr/libexec/ipsec/addconn" --config "$D/resp/ipsec.conf" \
    --ctlsocket "$D/resp/run/pluto.ctl" lt > /dev/null
}

start_charon_fake() { CHARON_FAKE=1 start_charon; }

start_charon() {
  local name=charon-systemd bin=/usr/sbin/charon-systemd kplug=kernel-netlink extra="" journal="journal { default = -1 }"
  if [ "${CHARON_FAKE:-0}" = 1 ]; then
    name=charon; bin=$LT/libexec/ipsec/charon; kplug="load-tester kernel-netlink"; journal=""
    extra="load-tester {
      enable = yes
      initiators = 0
      preshared_key = $PSK
      fake_kernel = yes
    }"
  fi
  cat > "$D/resp/strongswan.conf" <<EOC
$name {
  load = $CHARON_PLUGINS $kplug socket-default vici
  $CHARON_COMMON
  $journal
  filelog { r { path = $D/resp/daemon.log
      default = 0
      ike = 0 } }
  plugins { vici { socket = unix://$D/resp/charon.vici }
    $extra }
}
EOC
  cat > "$D/resp/swanctl.conf" <<EOC
connections { lt { version = 2
    local_addrs = 192.0.2.2
    proposals = aes128-sha256-$DH
    unique = never
    local { auth = psk
            id = srv.strongswan.org }
    remote { auth = psk }
    children { c { esp_proposals = aes128gcm16 } } } }
secrets { ike-lt { secret = $PSK } }
EOC
  taskset -c "$RESP_CPU" ip netns exec $NS_RESP unshare -m sh -c \
    "mount -t tmpfs tmpfs /run && mkdir -p /run/strongswan-lt && exec env STRONGSWAN_CONF=$D/resp/strongswan.conf $bin" \
    > "$D/resp/stdout" 2>&1 &
  RPID=$!
  for _ in $(seq 100); do [ -S "$D/resp/charon.vici" ] && break; sleep 0.1; done
  ip netns exec $NS_RESP swanctl --load-all --noprompt --uri "unix://$D/resp/charon.vici" \
    --file "$D/resp/swanctl.conf" > "$D/resp/swanctl-load" 2>&1
}

start_resp() {
  mkdir -p "$D/resp"
  "start_$R" || return 1
  sleep 0.2
  kill -0 "$RPID" 2>/dev/null || { echo "peers: $R did not start ($D/resp)" >&2; return 1; }
}

# The responder's count of IKE SAs it established (its own log).
resp_established() {
  case $R in
    plutors*) grep -c 'responder established IKE SA' "$D/resp/daemon.log";;
    libreswan) grep -c 'established IKE SA' "$D/resp/daemon.log";;
    charon*) grep -c 'IKE_SA lt\[[0-9]*\] established between' "$D/resp/daemon.log";;
  esac
}

lt_conf() {   # N delete(yes|no)
  if [ "$INITIATOR" = loadgen ]; then
    LT_N=$1; LG_MODE=$([ "$2" = yes ] && echo --delete || echo --hold)
    mkdir -p "$D/lt"; rm -f "$D/lt/stdout"
    return
  fi
  local it=$(( $1 / INITIATORS )) ini=$INITIATORS
  [ "$it" -lt 1 ] && { it=1; ini=$1; }
  LT_N=$((it * ini))
  mkdir -p "$D/lt"; rm -f "$D/lt/charon.log"
  cat > "$D/lt/strongswan.conf" <<EOC
charon {
  load = $CHARON_PLUGINS load-tester kernel-netlink socket-default
  $CHARON_COMMON
  filelog { l { path = $D/lt/charon.log
      flush_line = $([ "$2" = no ] && echo yes || echo no)
      default = 0
      cfg = 1 } }
  plugins { load-tester {
      enable = yes
      initiators = $ini
      iterations = $it
      delay = 1
      init_limit = $LIMIT
      initiator = 192.0.2.1
      responder = 192.0.2.2
      proposal = aes128-sha256-$DH
      esp = aes128gcm16
      initiator_auth = psk
      responder_auth = psk
      preshared_key = $PSK
      version = 2
      child_rekey = 0
      ike_rekey = 0
      delete_after_established = $2
      shutdown_when_complete = $2
      fake_kernel = yes
  } }
}
EOC
}
lt_start() {
  if [ "$INITIATOR" = loadgen ]; then
    timeout "$MAXT" taskset -c "$LT_CPU" ip netns exec $NS_LT "$LOADGEN" --local 192.0.2.1 \
      --remote 192.0.2.2 --psk "$PSK" --remote-id @srv.strongswan.org --n "$LT_N" --limit "$LIMIT" \
      --sockets "$LG_SOCKETS" --ike "aes128-sha2_256-$(dh_libreswan "$DH")" --esp aes_gcm128-none \
      $LG_MODE > "$D/lt/stdout" 2> "$D/lt/stderr" &
    TPID=$!
    return
  fi
  timeout "$MAXT" taskset -c "$LT_CPU" ip netns exec $NS_LT unshare -m sh -c \
    "mount -t tmpfs tmpfs /run && mkdir -p /run/strongswan-lt && exec env STRONGSWAN_CONF=$D/lt/strongswan.conf $LT/libexec/ipsec/charon" \
    > "$D/lt/stdout" 2>&1 &
  TPID=$!
}
lt_established() {
  if [ "$INITIATOR" = loadgen ]; then   # its last progress or final line
    awk '$1 == "LOADGEN" && $2 == "progress" {n = $4} $1 == "LOADGEN" && $2 == "established" {n = $3}
      END {print n + 0}' "$D/lt/stdout" 2>/dev/null
    return
  fi
  grep -c 'IKE_SA load-test\[[0-9]*\] established between' "$D/lt/charon.log" 2>/dev/null
}
lg_value() { awk -v k="$1" '$1 == "LOADGEN" && $2 == k {print $3}' "$D/lt/stdout" 2>/dev/null | tail -1; }
warm_up() {
  lt_conf "$WARMUP" yes; lt_start; wait "$TPID"; TPID=""
  W_EST=$(resp_established)
  # The loadgen is done within milliseconds, before charon's buffered log shows
  # the warm-up: take its own exact count (each SA it established, the responder
  # did) rather than the responder's log.
  [ "$INITIATOR" = loadgen ] && W_EST=$(lt_established)
  [ "$W_EST" -ge "$LT_N" ] || { echo "peers: $R warm-up: $W_EST of $LT_N established ($D)" >&2; return 1; }
  settle
}

run_cpu() {
  MODE=cpu; D=$OUT/$R-$DH-cpu-$REP; rm -rf "$D"; mkdir -p "$D"
  net_up || return 1
  start_resp && warm_up || { stop_all; net_down; return 1; }
  lt_conf "$N_CPU" yes
  local c0 c1 t0 t1 est
  if [ "$PERF" = 1 ] && case $R in plutors*) true;; *) false;; esac; then
    perf record -q ${PERF_CALLGRAPH:--g} -e cpu-clock -F ${PERF_FREQ:-2000} -p "$RPID" -o "$D/perf.data" > "$D/perf.log" 2>&1 &
    PPID_PERF=$!; sleep 0.5
  fi
  c0=$(cpu_ticks "$RPID"); t0=$(date +%s.%N)
  lt_start; wait "$TPID"; TPID=""
  t1=$(date +%s.%N)
  settle; c1=$(cpu_ticks "$RPID")
  [ -n "$PPID_PERF" ] && { kill -INT "$PPID_PERF"; wait "$PPID_PERF" 2>/dev/null; PPID_PERF=""; }
  stop_all
  est=$(( $(resp_established) - W_EST ))
  result n "$LT_N"
  result established "$est"
  result lt_established "$(lt_established)"
  if [ "$est" -gt 0 ]; then
    result cpu_us_per_sa "$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v n="$est" 'BEGIN{printf "%.0f", c * 1e6 / hz / n}')"
  fi
  result setups_per_s "$(awk -v n="$LT_N" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", n / (b - a)}')"
  if [ "$INITIATOR" = loadgen ]; then
    local v
    for k in cpu_us_per_sa:lg_cpu_us_per_sa failed:lg_failed retransmits:lg_retransmits child_established:lg_child; do
      v=$(lg_value "${k%%:*}"); [ -n "$v" ] && result "${k#*:}" "$v"
    done
  fi
  net_down
}

run_mem() {
  MODE=mem; D=$OUT/$R-$DH-mem-$REP; rm -rf "$D"; mkdir -p "$D"
  net_up || return 1
  start_resp && warm_up || { stop_all; net_down; return 1; }
  lt_conf "$MEM_N" no
  local r0 r1 est=0 last=0 still=0
  r0=$(rss_kib "$RPID")
  lt_start
  while [ "$est" -lt "$LT_N" ] && [ "$still" -lt 40 ]; do
    sleep 0.5; est=$(lt_established)
    if [ "$est" -gt "$last" ]; then last=$est; still=0; else still=$((still + 1)); fi
    kill -0 "$TPID" 2>/dev/null || break
  done
  sleep 1; settle
  r1=$(rss_kib "$RPID")
  local children=""
  if case $R in plutors*) true;; *) false;; esac; then   # Child SAs the responder holds (installed, or faked with --fake-xfrm)
    children=$(ip netns exec $NS_RESP "$PLUTORS/whack" --ctlsocket "$D/resp/run/pluto.ctl" --trafficstatus 2>/dev/null | grep -c 'inBytes=')
  fi
  stop_all
  result held_offered "$LT_N"
  result held "$est"
  [ -n "$children" ] && result held_child "$children"
  [ "$est" -gt 0 ] && result kib_per_sa "$(awk -v a="$r0" -v b="$r1" -v n="$est" 'BEGIN{printf "%.2f", (b - a) / n}')"
  net_down
}

echo "peers: $(date -u +%FT%TZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); initiator: $INITIATOR; responders: $RESPONDERS; groups: $DHS; $REPS reps; N_CPU=$N_CPU MEM_N=$MEM_N LIMIT=$LIMIT" >&2
for REP in $(seq "$REPS"); do
  for DH in $DHS; do
    for R in $RESPONDERS; do
      echo "peers: rep $REP $DH $R" >&2
      case " $MODES " in *" cpu "*)
        run_cpu || echo "peers: $R $DH cpu rep $REP failed" >&2;; esac
      case " $MODES " in *" mem "*)
        [ "$MEM_N" -gt 0 ] && { run_mem || echo "peers: $R $DH mem rep $REP failed" >&2; };; esac
    done
  done
done
