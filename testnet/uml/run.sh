#!/bin/sh
# Usage: testnet/uml/run.sh WORKDIR SCRIPT [MEMORY]
#
# Boots the test net's User-Mode Linux kernel with the host's / as a read-only root,
# runs WORKDIR/SCRIPT as root inside it (WORKDIR is read-write at /mnt/work), powers
# off, and exits with the script's status (255 when the guest never recorded one).
# The guest's console goes to stdout.
#
# Environment: TESTNET_UML (the linux.uml binary; default /opt/uml/linux.uml),
# TESTNET_UML_MODS (dir holding <release>/ module trees; default /opt/uml/modules),
# TESTNET_UML_OPTS (extra kernel parameters), TESTNET_UML_TAG (a word naming this guest
# when several share WORKDIR; also passed to the script as $tn_tag).
set -eu
[ $# -ge 2 ] || { echo "usage: $0 WORKDIR SCRIPT [MEMORY]" >&2; exit 2; }
uml=${TESTNET_UML:-/opt/uml/linux.uml}
mods=${TESTNET_UML_MODS:-/opt/uml/modules}
work=$(readlink -f "$1")
script=$2
mem=${3:-768M}
here=$(dirname "$(readlink -f "$0")")
[ -x "$uml" ] || { echo "no UML kernel at $uml: run testnet/setup.sh (as root) first" >&2; exit 2; }
[ -f "$work/$script" ] || { echo "no script $work/$script" >&2; exit 2; }
tag=${TESTNET_UML_TAG:-}
rc_file="$work/.uml_rc$tag"
rm -f "$rc_file"
# UML backs guest memory with a file in TMPDIR: keep it in RAM.
TMPDIR=/dev/shm "$uml" mem="$mem" root=/dev/root rootfstype=hostfs rootflags=/ ro \
  init="$here/init.sh" tn_work="$work" tn_cmd="$script" tn_mods="$mods" tn_tag="$tag" \
  con=null con0=null,fd:1 ssl=null quiet ${TESTNET_UML_OPTS:-} </dev/null || true
if [ -f "$rc_file" ]; then
  exit "$(cat "$rc_file")"
fi
echo "the UML guest ended without recording a status (kernel crash or timeout?)" >&2
exit 255
