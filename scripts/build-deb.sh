#!/usr/bin/env bash
# Builds the kmodpress .deb for one Debian suite, inside a chroot of that suite (mmdebstrap, cached by
# scripts/deb-chroot.sh), so that the native addons are compiled for the nodejs that suite ships:
#   bash scripts/build-deb.sh trixie [OUTDIR]       → OUTDIR/kmodpress_<version>_<arch>.deb (default: .)
#   bash scripts/build-deb.sh --cached trixie [OUTDIR]   the same only if already built (else exit 3)
# The source is the package's inputs in the repository (tracked, plus new ones not ignored) as they are in the
# working tree. Inside
# the chroot: npm ci (the npm registry; addons built from source, nothing downloaded from elsewhere), then
# dpkg-buildpackage -us -uc -b (offline), then lintian. The .deb and lintian's output are cached under
# $KMODPRESS_CACHE/deb/<suite>-<key> (key: those files, the build chroot), so an unchanged package is not rebuilt.
# Needs root, mmdebstrap, and Debian's archive (deb.debian.org, or $DEB_MIRROR) plus the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
. scripts/deb-chroot.sh

cached_only=0
if [ "${1:-}" = --cached ]; then
	# only what is cached: exit 3 when the .deb for this tree (or its build chroot) would have to be built
	cached_only=1
	export DEB_CHROOT_CACHED_ONLY=1
	shift
fi
suite=${1:-}
out=${2:-.}
case "$suite" in
	bookworm | trixie | forky | sid | unstable | testing) ;;
	*) echo "usage: bash scripts/build-deb.sh [--cached] SUITE [OUTDIR]   (SUITE: bookworm, trixie, sid …)" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "scripts/build-deb.sh: run as root (mmdebstrap and chroot)" >&2; exit 2; }

# What the build chroot has: the build dependencies of debian/control, lintian, and what the addons' builds run.
build_pkgs=(build-essential debhelper nodejs npm libnode-dev liblzma-dev python3 bzip2 ca-certificates lintian xz-utils kmod)
chroot_tar=$(deb_chroot_tarball "$suite" "${build_pkgs[@]}")

# The source: what goes into the package (tracked or new, not ignored files, as they are on disk), so that a change
# elsewhere (tests, docs) keeps the cached .deb.
inputs=(debian src native hooks etc man completions package.json package-lock.json tsconfig.json scripts/*.mjs)
files=$(git ls-files -z --cached --others --exclude-standard -- "${inputs[@]}" | xargs -0 -r sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh | LC_ALL=C sort -z | tr '\0' '\n')
key=$( { printf '%s\n' "build-deb v1" "$chroot_tar"; printf '%s\n' "$files" | tr '\n' '\0' | xargs -0 sha256sum; } | sha256sum | cut -c1-12)
cache=$KMODPRESS_CACHE/deb/$suite-$key
mkdir -p "$out"

if ! ls "$cache"/kmodpress_*.deb >/dev/null 2>&1 && [ "$cached_only" = 1 ]; then
	echo "build-deb: $suite: no cached .deb for this source tree ($cache)" >&2
	exit 3
fi
if ! ls "$cache"/kmodpress_*.deb >/dev/null 2>&1; then
	start=$SECONDS
	work=$(mktemp -d "$KMODPRESS_CACHE/deb/work-$suite.XXXXXX")
	trap 'deb_chroot_remove "$work"' EXIT
	echo "build-deb: $suite: unpacking the build chroot $chroot_tar"
	deb_chroot_unpack "$chroot_tar" "$work"
	mkdir -p "$work/build/kmodpress"
	printf '%s\n' "$files" | tr '\n' '\0' | tar --null -T - -cf - | tar -C "$work/build/kmodpress" -xf -
	# node_modules and the addons, as npm ci and its install scripts left them, are cached by what made them: the
	# lockfile, the addons' sources and build scripts, the build chroot (its nodejs). A debian/-only change reuses them.
	nm_key=$( { echo "$chroot_tar"; cat package-lock.json native/*.c scripts/build-lzma.mjs scripts/build-native.mjs; } | sha256sum | cut -c1-12)
	nm_cache=$KMODPRESS_CACHE/deb/node_modules-$suite-$nm_key.tar
	if [ -s "$nm_cache" ]; then
		echo "build-deb: $suite: node_modules from $nm_cache"
		tar -C "$work/build/kmodpress" -xf "$nm_cache"
	fi
	# The host's CA bundle, for npm only: a host that reaches the registry through a TLS-inspecting proxy trusts its
	# CA there (the build chroot is thrown away; nothing of it goes into the package).
	[ -s /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$work/build/host-ca.crt"
	# npm's download cache is shared between builds (tarballs by their integrity hash: safe to share)
	mkdir -p "$KMODPRESS_CACHE/deb/npm-cache" "$work/root/.npm"
	mount --bind "$KMODPRESS_CACHE/deb/npm-cache" "$work/root/.npm"
	cat >"$work/build/build.sh" <<'EOS'
#!/bin/sh
set -eu
cd /build/kmodpress
echo "build-deb: in $(. /etc/os-release; echo "$PRETTY_NAME"): node $(node --version), npm $(npm --version)"
# Native addons from source with this nodejs's own headers: no prebuilt binary, no header download.
export npm_config_build_from_source=true npm_config_nodedir=/usr npm_config_update_notifier=false
if [ -s /build/host-ca.crt ]; then export npm_config_cafile=/build/host-ca.crt NODE_EXTRA_CA_CERTS=/build/host-ca.crt; fi
if [ ! -d node_modules ]; then
	npm ci --no-audit --no-fund
	node scripts/build-lzma.mjs
	node scripts/build-native.mjs --strict
	tar -cf /build/node_modules.tar node_modules build
fi
dpkg-buildpackage -us -uc -b
cd /build
lintian --no-tag-display-limit kmodpress_*.changes > lintian.txt 2>&1 || true
cat lintian.txt
EOS
	chmod +x "$work/build/build.sh"
	DEB_CHROOT_ENV="MAKEFLAGS=-j$(nproc)" nice -n 10 bash -c '. scripts/deb-chroot.sh; deb_chroot_run "$1" /build/build.sh' sh "$work" 2>&1 |
		tee "$KMODPRESS_CACHE/deb/logs/build-$suite-$key.log"
	rc=${PIPESTATUS[0]}
	umount "$work/root/.npm" 2>/dev/null || true
	[ "$rc" = 0 ] || { echo "build-deb: $suite: the build failed (exit $rc); log: $KMODPRESS_CACHE/deb/logs/build-$suite-$key.log" >&2; exit 1; }
	if [ -s "$work/build/node_modules.tar" ] && [ ! -s "$nm_cache" ]; then
		cp "$work/build/node_modules.tar" "$nm_cache.tmp.$$" && mv -f "$nm_cache.tmp.$$" "$nm_cache"
	fi
	mkdir -p "$cache.tmp"
	cp "$work"/build/kmodpress_*.deb "$work"/build/lintian.txt "$work"/build/kmodpress_*.buildinfo "$cache.tmp/"
	rm -rf "$cache"
	mv "$cache.tmp" "$cache"
	echo "build-deb: $suite: built in $((SECONDS - start)) s"
fi
cp "$cache"/kmodpress_*.deb "$out/"
echo "build-deb: $suite: lintian: $(grep -c '^E:' "$cache/lintian.txt" || true) errors, $(grep -c '^W:' "$cache/lintian.txt" || true) warnings ($cache/lintian.txt)"
for f in "$cache"/kmodpress_*.deb; do echo "build-deb: $suite: $out/${f##*/}"; done
