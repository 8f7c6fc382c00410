#!/bin/sh
# Builds charon with strongSwan's load-tester plugin (no Debian package ships it) into
# $PREFIX (default /opt/strongswan-lt), from the Debian bookworm source package of the
# same upstream version as the installed peers (5.9.8). `cargo xtask bench peers` calls
# it when the plugin is missing; a second call returns at once.
#
# The source comes through a private apt state (its own sources list, lists and cache
# under a temporary directory) pointed at the mirror the system's apt already uses, so
# the machine's own apt configuration is not touched. About 1.5 minutes on 2 cores.
set -eu
PREFIX=${PREFIX:-/opt/strongswan-lt}
plugin="$PREFIX/lib/ipsec/plugins/libstrongswan-load-tester.so"
if [ -x "$PREFIX/libexec/ipsec/charon" ] && [ -f "$plugin" ]; then
  echo "build-loadtester: $PREFIX has the load tester"; exit 0
fi
mirror=
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  mirror=$(sed -nE 's#^(deb|URIs:)[[:space:]]+(\[[^]]*\][[:space:]]+)?([a-z]+://[^[:space:]]*/debian)/?([[:space:]].*)?$#\3#p' "$f" | head -n 1)
  [ -n "$mirror" ] && break
done
[ -n "$mirror" ] || { echo "build-loadtester: no Debian mirror in the apt sources" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" > "$work/sources.list"
apt_private="-o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=/nonexistent \
  -o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache -o APT::Sandbox::User=root"
echo "build-loadtester: build tools"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  gcc make pkg-config libgmp-dev libssl-dev bzip2 > /dev/null
echo "build-loadtester: strongSwan source from $mirror"
# shellcheck disable=SC2086
apt-get $apt_private -qq update
# shellcheck disable=SC2086
(cd "$work" && apt-get $apt_private -qq source --download-only --tar-only strongswan)
(cd "$work" && tar xjf strongswan_*.orig.tar.bz2)
cd "$work"/strongswan-*/
echo "build-loadtester: configure and make (-j$(nproc))"
./configure -q --prefix="$PREFIX" --sysconfdir="$PREFIX/etc" --with-piddir=/run/strongswan-lt \
  --enable-load-tester --enable-openssl --enable-curve25519 \
  --disable-stroke --disable-updown --disable-xauth-generic --disable-attr --disable-resolve --disable-pki
make -s -j"$(nproc)" > /dev/null
make -s install > /dev/null
[ -f "$plugin" ] || { echo "build-loadtester: $plugin missing after the build" >&2; exit 1; }
echo "build-loadtester: installed in $PREFIX"
