# Sourced by scripts/fresh-check and scripts/deb-check: the cached clean Debian 12 root they
# both enter, and the mounts that make a throw-away copy of it.
#
# The root is a minimal Debian 12 system (mmdebstrap, variant minbase, plus make, git and
# ca-certificates: what a newcomer needs to clone the tree and type `make`), built once, kept as
# a tarball and unpacked once into $GOLDEN. Each run mounts an overlay on $GOLDEN whose upper
# layer it deletes at exit.
# Environment:   FRESH_BASE (default /var/tmp/axigen-ha-fresh): cache, downloaded .debs, logs.
#                FRESH_MAX_AGE_DAYS (default 7): a cached root older than this is rebuilt.
#                FRESH_REFRESH=1: rebuild the cached root first.

BASE=${FRESH_BASE:-/var/tmp/axigen-ha-fresh}
MAX_AGE_DAYS=${FRESH_MAX_AGE_DAYS:-7}
CACHE=$BASE/cache/bookworm-minbase.tar.zst
GOLDEN=$BASE/golden
DEBS=$BASE/apt-archives
SOURCES=/etc/apt/sources.list.d/debian.sources
ROOT_PKGS=ca-certificates,make,git

say() { printf '%s: %s\n' "$SELF" "$*"; }
die() { printf '%s: %s\n' "$SELF" "$*" >&2; exit 1; }
elapsed() { local s=$(($(date +%s) - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# The tools the root is made with, and the cached root itself (built when missing, too old, or
# asked for), unpacked into $GOLDEN.
fresh_golden() {
  [ "$(id -u)" = 0 ] || die "needs root (namespaces, mounts)"
  [ -r "$SOURCES" ] || die "no $SOURCES: the clean root uses this machine's Debian mirror"
  local missing=() t0
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  command -v zstd >/dev/null || missing+=(zstd)
  command -v unshare >/dev/null || missing+=(util-linux)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
  mkdir -p "$BASE/cache" "$DEBS/partial" "$BASE/logs"
  if [ -n "${FRESH_REFRESH:-}" ] || [ ! -s "$CACHE" ] \
     || [ -n "$(find "$CACHE" -mtime +"$MAX_AGE_DAYS" 2>/dev/null)" ]; then
    t0=$(date +%s)
    say "building a minimal Debian 12 root (mmdebstrap minbase + $ROOT_PKGS)"
    rm -f "$CACHE.tmp"
    mmdebstrap --quiet --mode=root --variant=minbase --include="$ROOT_PKGS" \
      --format=tar bookworm - "$SOURCES" | zstd -q -T0 -o "$CACHE.tmp"
    mv "$CACHE.tmp" "$CACHE"
    say "root built in $(elapsed "$t0")"
  fi
  if [ ! -f "$GOLDEN/.axha-stamp" ] || [ "$CACHE" -nt "$GOLDEN/.axha-stamp" ]; then
    grep -q " $GOLDEN[/ ]" /proc/self/mountinfo && die "$GOLDEN is mounted: another run uses it"
    rm -rf --one-file-system "$GOLDEN"
    mkdir -p "$GOLDEN"
    zstd -dc "$CACHE" | tar --numeric-owner -xpf - -C "$GOLDEN"
    touch "$GOLDEN/.axha-stamp"
  fi
}

# fresh_mount GOLDEN RUN: inside a private mount namespace, mount at RUN/root an overlay on
# GOLDEN (upper layer in RUN) with /proc, /sys, /dev, an empty /run, the host's resolv.conf, an
# /etc/hosts (the installer writes one, a bootstrapped root has none: localhost must resolve
# without DNS) and the kept downloads of .debs (only the download is saved: every package is
# still installed by the run). Prints the root's path. Exported to the namespace's shell.
fresh_mount() {
  local golden=$1 run=$2 r=$2/root
  mkdir -p "$r" "$run/up" "$run/wk"
  mount -t overlay overlay -o lowerdir="$golden",upperdir="$run/up",workdir="$run/wk" "$r"
  mount -t proc proc "$r/proc"
  mount --rbind /sys "$r/sys"
  mount --rbind /dev "$r/dev"
  mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$r/run"
  mount --bind -o ro /etc/resolv.conf "$r/etc/resolv.conf"
  [ -e "$r/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$r/etc/hosts"
  mount --bind "$DEBS" "$r/var/cache/apt/archives"
  printf '%s\n' "$r"
}

# fresh_pivot ROOT: make ROOT the namespace's root. pivot_root, not chroot: a process that
# enters a mount namespace (nsenter -m, as the lab does for every node) gets that namespace's
# root, which after a chroot would still be the host's.
fresh_pivot() {
  mkdir -p "$1/.host"
  cd "$1"
  pivot_root . .host
  umount -l /.host
  rmdir /.host
}
export -f fresh_mount fresh_pivot
export DEBS
