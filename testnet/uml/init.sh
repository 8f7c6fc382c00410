#!/bin/sh
# PID 1 of the test net's User-Mode Linux guest.
#
# The guest boots with the host's / as its read-only root (hostfs), so every tool
# installed on the host runs unchanged. This script gives it the writable places a
# system needs (tmpfs on /run, /tmp, /var/tmp, /var/log), the UML kernel's module
# tree, and the work dir (read-write, at /mnt/work); runs the requested script there;
# records its exit status in /mnt/work/.uml_rc; and powers the guest off.
#
# Unknown kernel command-line parameters reach init as environment variables:
#   tn_work=<host dir>   mounted at /mnt/work
#   tn_cmd=<script>      path relative to tn_work, run with sh
#   tn_mods=<host dir>   holding the <kernel release>/ module tree
#   tn_tag=<word>        suffix of the status file (.uml_rc<tag>), so several guests
#                        can share one work dir
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
for d in /run /tmp /var/tmp /var/log; do mount -t tmpfs tmpfs "$d"; done
mkdir -p /run/netns

kver=$(uname -r)
mount -t tmpfs tmpfs /lib/modules
mkdir -p "/lib/modules/$kver"
# hostfs resolves the path on the host, so it may lie under the host's /tmp
if ! mount -t hostfs -o "${tn_mods:-/nonexistent}/$kver" hostfs "/lib/modules/$kver"; then
  echo "testnet init: no module tree for $kver under '${tn_mods:-}': modprobe will fail" >&2
fi

mount -t tmpfs tmpfs /mnt
mkdir -p /mnt/work
mount -t hostfs -o "$tn_work" hostfs /mnt/work
ip link set lo up
hostname testnet

rc=1
cd /mnt/work
if [ -n "$tn_cmd" ]; then
  sh "/mnt/work/$tn_cmd"
  rc=$?
else
  echo "testnet init: no tn_cmd given" >&2
fi
echo "$rc" > "/mnt/work/.uml_rc${tn_tag:-}"
sync
echo o > /proc/sysrq-trigger
sleep 10
