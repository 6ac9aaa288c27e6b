#!/usr/bin/env bash
# Debian chroots for building and testing the kmodpress .deb, made with mmdebstrap from Debian's archive and cached
# as tarballs under $KMODPRESS_CACHE/deb/chroots (default /var/cache/kmodpress-test), keyed by suite, mirror and
# package list: a changed input makes a new tarball, an unchanged one is reused. Each use unpacks a fresh copy.
# Sourced by scripts/build-deb.sh; test/package/deb.test.ts runs it as a command:
#   deb-chroot.sh tarball SUITE PKG...        print the cached tarball's path (made first if missing; with
#                                             DEB_CHROOT_CACHED_ONLY=1 exit 3 instead)
#   deb-chroot.sh unpack TARBALL DIR          unpack a fresh chroot into DIR (empty or missing)
#   deb-chroot.sh run DIR CMD...              run CMD in the chroot (/proc, /sys, /dev mounted for it, resolv.conf)
#   deb-chroot.sh remove DIR                  unmount whatever is left and delete DIR
set -euo pipefail

KMODPRESS_CACHE=${KMODPRESS_CACHE:-/var/cache/kmodpress-test}
DEB_MIRROR=${DEB_MIRROR:-http://deb.debian.org/debian}
deb_chroot_cache=$KMODPRESS_CACHE/deb/chroots

# deb_chroot_tarball SUITE PKG... → prints the tarball path; builds it (mmdebstrap, variant apt) when missing.
deb_chroot_tarball() {
	local suite=$1
	shift
	local key
	key=$(printf '%s\n' "v1" "$suite" "$DEB_MIRROR" "$@" | sha256sum | cut -c1-12)
	local tar=$deb_chroot_cache/$suite-$key.tar
	if [ ! -s "$tar" ] && [ "${DEB_CHROOT_CACHED_ONLY:-0}" = 1 ]; then
		echo "deb-chroot: no cached $suite chroot with: $*" >&2
		return 3
	fi
	if [ ! -s "$tar" ]; then
		command -v mmdebstrap >/dev/null || { echo "deb-chroot: mmdebstrap is not installed (apt-get install mmdebstrap)" >&2; return 2; }
		mkdir -p "$deb_chroot_cache"
		local inc
		inc=$(IFS=,; echo "$*")
		echo "deb-chroot: making $tar ($suite: $*)" >&2
		local start=$SECONDS
		# mmdebstrap writes the tarball in one go; a partial one is never left under the final name.
		nice -n 10 mmdebstrap --variant=apt --mode=root --format=tar ${inc:+--include="$inc"} \
			--aptopt='Acquire::Retries "3"' --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
			--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
			"$suite" "$tar.tmp.$$" "deb $DEB_MIRROR $suite main" >&2
		mv -f "$tar.tmp.$$" "$tar"
		printf '%s\n' "$suite" "$DEB_MIRROR" "$@" >"$tar.inputs"
		echo "deb-chroot: made $tar in $((SECONDS - start)) s" >&2
	fi
	printf '%s\n' "$tar"
}

# deb_chroot_unpack TARBALL DIR
deb_chroot_unpack() {
	mkdir -p "$2"
	tar -C "$2" -xpf "$1"
}

# deb_chroot_run DIR CMD...: the chroot gets the host's /proc, /sys, /dev (bind) and resolv.conf; unmounted after.
deb_chroot_run() {
	local dir=$1 rc=0
	shift
	mkdir -p "$dir/proc" "$dir/sys" "$dir/dev"
	mount -t proc proc "$dir/proc"
	mount --rbind /sys "$dir/sys" && mount --make-rslave "$dir/sys"
	mount --rbind /dev "$dir/dev" && mount --make-rslave "$dir/dev"
	cp -L /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive TERM=dumb \
		${DEB_CHROOT_ENV:-} chroot "$dir" "$@" || rc=$?
	deb_chroot_umount "$dir/proc"
	deb_chroot_umount "$dir/sys"
	deb_chroot_umount "$dir/dev"
	return "$rc"
}

# Unmount DIR and everything mounted under it (deepest first).
deb_chroot_umount() {
	local dir m
	dir=$(readlink -f -- "$1")
	while read -r m; do
		umount -l -- "$m" 2>/dev/null || true
	done < <(awk -v d="$dir" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/self/mounts | sort -r)
}

deb_chroot_remove() {
	[ -d "$1" ] || return 0
	deb_chroot_umount "$1"
	# never follow a mount that is still there: one file system only
	rm -rf --one-file-system -- "$1"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	cmd=${1:-}
	shift || true
	case "$cmd" in
		tarball) deb_chroot_tarball "$@" ;;
		unpack) deb_chroot_unpack "$@" ;;
		run) deb_chroot_run "$@" ;;
		remove) deb_chroot_remove "$@" ;;
		*) echo "usage: deb-chroot.sh tarball SUITE PKG... | unpack TARBALL DIR | run DIR CMD... | remove DIR" >&2; exit 2 ;;
	esac
fi
