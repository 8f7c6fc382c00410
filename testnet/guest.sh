#!/bin/sh
# Runs one share of a test-net tier: every case listed in $TN_WORK/$tn_job/cases.list,
# one after the other, each with its own log, exit status and duration. Started by
# `cargo xtask testnet` inside a UML guest (where TN_WORK is /mnt/work) or, on a host
# whose kernel has ESP, directly. The xtask reads the results back; this script only
# records them.
#
# cases.list lines (tab-separated):
#   rust      <binary under common/bin>  <test name>    one libtest test, run --exact
#             --include-ignored (the ESP cases are #[ignore]d for plain cargo test)
#   scenario  <script under common/scenarios> <timeout>  a shell scenario (see lib.sh)
TN_WORK=${TN_WORK:-/mnt/work}
job=${tn_job:-${tn_tag:-j0}}
dir="$TN_WORK/$job"
common="$TN_WORK/common"
export PLUTO_TESTNET=1 TN_WORK TN_LIB="$common/lib.sh"
export RUST_BACKTRACE=1

# the modules every case may need, loaded once (absent or built-in ones are fine)
for m in xfrm_user xfrm_interface esp4 esp6 ah4 ah6 xfrm4_tunnel xfrm6_tunnel ipcomp ipcomp6 \
         deflate veth gcm ccm ctr seqiv echainiv chacha20poly1305 cmac xcbc des3_ede \
         des_generic sha1 sha256 sha512 md5 camellia_generic; do
  modprobe -q "$m" 2>/dev/null
done

mkdir -p "$dir/logs" "$dir/rc"
i=0
tab=$(printf '\t')
while IFS="$tab" read -r kind what arg; do
  i=$((i + 1))
  [ -n "$kind" ] || continue
  log="$dir/logs/$i.log"
  t0=$(date +%s.%N)
  case "$kind" in
    rust)
      (cd "$common" && timeout 300 "./bin/$what" --exact "$arg" --include-ignored --test-threads=1 --color never) >"$log" 2>&1
      rc=$?
      # a filter that matched nothing must not pass
      grep -q "^test result: ok. 1 passed" "$log" || [ $rc -ne 0 ] || rc=99
      ;;
    scenario)
      export TN_SCRATCH="/tmp/tn-$i"
      rm -rf "$TN_SCRATCH"; mkdir -p "$TN_SCRATCH"
      (cd "$common/scenarios" && timeout "$arg" sh "./$what") >"$log" 2>&1
      rc=$?
      ;;
    *)
      echo "unknown case kind '$kind'" >"$log"; rc=98 ;;
  esac
  t1=$(date +%s.%N)
  echo "$rc $(echo "$t1 - $t0" | bc 2>/dev/null || echo 0)" > "$dir/rc/$i"
done < "$dir/cases.list"
exit 0
