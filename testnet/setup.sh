#!/usr/bin/env bash
# Sets this machine up for the test net (run as root; idempotent; when everything is
# already in place it takes a second, makes no network access and prints one line,
# which is what CI sees on every run).
#
# Installs:
#   - strongSwan 5.9.x from apt (charon-systemd + swanctl: no pidfile, so several
#     daemons can run side by side in namespaces) and the tools the harness uses;
#   - libreswan 4.10, unpacked with dpkg-deb into /opt/libreswan-4.10 (its package
#     conflicts with strongSwan's), plus the shared libraries its pluto needs, and the
#     /usr/libexec/ipsec link its pluto insists on (it execs addconn from there);
#   - where the host kernel cannot hold ESP SAs: a User-Mode-Linux kernel with ESP, AH,
#     IPComp and the AEAD ciphers as modules, into /opt/uml. Debian's older UML builds
#     die on hosts with AVX-512/AMX ("ptrace set fp regs failed"), so it is the 7.x
#     build from Debian forky, with a newer glibc unpacked beside it and wired in with
#     patchelf, fetched through a private apt state (the system's sources untouched).
#
# Environment: TESTNET_UML_DIR (default /opt/uml), TESTNET_LIBRESWAN_DIR (default
# /opt/libreswan-4.10), TESTNET_FORCE_UML=1 (fetch UML even when the host has ESP).
set -euo pipefail

UML_DIR=${TESTNET_UML_DIR:-/opt/uml}
LSW_DIR=${TESTNET_LIBRESWAN_DIR:-/opt/libreswan-4.10}
LSW_VERSION=4.10
export DEBIAN_FRONTEND=noninteractive

say() { echo "testnet/setup: $*"; }
die() { echo "testnet/setup: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and kernel pieces)"
command -v apt-get >/dev/null || die "needs a Debian-based system (apt-get)"

APT_UPDATED=0
apt_update_once() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    say "apt-get update"
    apt-get update -qq
    APT_UPDATED=1
  fi
}

# What the installed packages provide (virtual names such as "host", which
# bind9-host provides), one name a line; read once, again after an install.
PROVIDED=
load_provided() {
  [ -z "$PROVIDED" ] || return 0
  PROVIDED=$(dpkg-query -W -f='${Status}\t${Provides}\n' 2>/dev/null \
    | awk -F'\t' '$1 == "install ok installed" && $2 != "" {print $2}' \
    | tr ',' '\n' | sed -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g' | sort -u)
  PROVIDED=${PROVIDED:-(none)}
}

# Whether a package (or a virtual package) is there: installed itself, or provided
# by an installed package. (No pipe into `grep -q`: with pipefail its early exit
# would fail the pipeline now and then.)
have_package() {
  local st
  st=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
  [ "$st" = "install ok installed" ] && return 0
  load_provided
  grep -qxF -- "$1" <<<"$PROVIDED"
}

# Installs the named packages that are not there yet (no apt call at all, and no
# output, when none are missing, which keeps the re-run fast and offline).
ensure_packages() {
  local missing=()
  local p
  for p in "$@"; do
    have_package "$p" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    apt_update_once
    say "installing ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    PROVIDED=
  fi
}

# --- strongSwan and the harness's tools --------------------------------------------
ensure_packages \
  strongswan-swanctl charon-systemd libcharon-extra-plugins libstrongswan-extra-plugins \
  libstrongswan-standard-plugins \
  iproute2 iputils-ping tcpdump patchelf libnss3-tools bc kmod util-linux coreutils \
  ca-certificates

# charon-systemd's unit must not run host-wide: the test net starts its own daemons.
if [ -d /run/systemd/system ] && systemctl is-enabled strongswan.service >/dev/null 2>&1; then
  say "disabling the host-wide strongswan.service"
  systemctl disable --now strongswan.service >/dev/null 2>&1 || true
fi

# --- libreswan, unpacked beside strongSwan -----------------------------------------
if [ ! -x "$LSW_DIR/usr/libexec/ipsec/pluto" ]; then
  apt_update_once
  tmp=$(mktemp -d)
  # a pinned 4.10 build where the archive has it, else whatever 4.10 it offers
  ver=$(apt-cache madison libreswan 2>/dev/null | awk -v v="$LSW_VERSION" '$3 ~ "^"v {print $3; exit}')
  [ -n "$ver" ] || die "no libreswan $LSW_VERSION in the apt sources (apt-cache madison libreswan)"
  say "unpacking libreswan $ver into $LSW_DIR"
  (cd "$tmp" && apt-get -o APT::Sandbox::User=root download -qq "libreswan=$ver")
  mkdir -p "$LSW_DIR"
  dpkg-deb -x "$tmp"/libreswan_*.deb "$LSW_DIR"
  # the shared libraries and tools it depends on, minus what conflicts with strongSwan
  deps=$(dpkg-deb -f "$tmp"/libreswan_*.deb Depends \
    | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g' \
    | grep -vE '^(debconf|init-system-helpers|systemd|lsb-base|\$\{.*\})?$' || true)
  rm -rf "$tmp"
  echo "$deps" > "$LSW_DIR/.depends"
fi
# the shared libraries and tools it needs (recorded at unpack time)
if [ -s "$LSW_DIR/.depends" ]; then
  # shellcheck disable=SC2046
  ensure_packages $(cat "$LSW_DIR/.depends")
fi
# its pluto execs /usr/libexec/ipsec/addconn at start
if [ ! -e /usr/libexec/ipsec ]; then
  mkdir -p /usr/libexec
  ln -s "$LSW_DIR/usr/libexec/ipsec" /usr/libexec/ipsec
elif [ "$(readlink -f /usr/libexec/ipsec)" != "$(readlink -f "$LSW_DIR/usr/libexec/ipsec")" ]; then
  say "note: /usr/libexec/ipsec is not the unpacked libreswan's; left as it is"
fi

# --- a kernel with ESP --------------------------------------------------------------
host_has_esp() {
  unshare -n ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x1000 \
    enc 'cbc(aes)' 0x000102030405060708090a0b0c0d0e0f \
    auth-trunc 'hmac(sha256)' 0x000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f 128 \
    >/dev/null 2>&1
}

fetch_uml() {
  local dest=$1 s mirror
  s=$(mktemp -d)
  # the Debian mirror the system's apt already uses
  mirror=$(grep -hoE '^(URIs:|deb) +[a-z]+://[^ ]+/debian/?( |$)' \
             /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
           | grep -oE '[a-z]+://[^ ]+' | head -n 1 || true)
  [ -n "$mirror" ] || die "no Debian mirror found in the apt sources"
  mkdir -p "$s/lists/partial" "$s/cache/archives/partial" "$s/etc"
  local kr=/usr/share/keyrings/debian-archive-keyring.gpg
  printf 'deb [signed-by=%s] %s forky main\ndeb [signed-by=%s] %s trixie main\n' \
    "$kr" "$mirror" "$kr" "$mirror" > "$s/etc/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$s/etc/sources.list" -o Dir::Etc::SourceParts=/nonexistent
              -o "Dir::State::Lists=$s/lists" -o "Dir::Cache=$s/cache"
              -o APT::Sandbox::User=root -o Debug::NoLocking=1)
  say "fetching user-mode-linux (forky) and glibc (trixie) from $mirror"
  apt-get "${opts[@]}" -qq update
  (cd "$s" && apt-get "${opts[@]}" -qq download user-mode-linux/forky libc6/trixie)
  dpkg-deb -x "$s"/user-mode-linux_*.deb "$s/uml"
  dpkg-deb -x "$s"/libc6_*.deb "$s/libc"
  rm -rf "$dest.new"; mkdir -p "$dest.new"
  mv "$s/libc/usr/lib/x86_64-linux-gnu" "$dest.new/glibc"
  mv "$s/uml/usr/lib/uml/modules" "$dest.new/modules"
  cp "$s/uml/usr/bin/linux.uml" "$dest.new/linux.uml"
  zcat "$s/uml/usr/share/doc/user-mode-linux/config.gz" > "$dest.new/config" 2>/dev/null || true
  (cd "$s" && ls user-mode-linux_*.deb libc6_*.deb) > "$dest.new/VERSIONS"
  patchelf --set-interpreter "$dest/glibc/ld-linux-x86-64.so.2" --set-rpath "$dest/glibc" \
    "$dest.new/linux.uml"
  rm -rf "$s" "$dest"
  mv "$dest.new" "$dest"
  say "UML kernel $(ls "$dest/modules") in $dest"
}

if [ -x "$UML_DIR/linux.uml" ] && [ -d "$UML_DIR/modules" ]; then
  :
elif [ "${TESTNET_FORCE_UML:-0}" != 1 ] && host_has_esp; then
  say "the host kernel holds ESP SAs: no UML kernel needed"
else
  [ "$(uname -m)" = x86_64 ] || die "the UML kernel fetch is for x86_64 hosts only"
  ensure_packages debian-archive-keyring patchelf
  fetch_uml "$UML_DIR"
fi
# the UML guest mounts its module tree over /lib/modules/<release>
mkdir -p /lib/modules

say "done"
