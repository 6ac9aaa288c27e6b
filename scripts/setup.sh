#!/usr/bin/env bash
# Sets up kmodpress on Debian 12, as root: the Debian packages it and its tests use, the npm dependencies (with
# lzma-native compiled optimized), kmodpress's native xz decoder, the build. With --test also the test fixtures and
# the kernel lab's tiny kernels, cached outside the repo in $KMODPRESS_CACHE (default /var/cache/kmodpress-test) so
# later runs take seconds.
# Idempotent: a second run installs and builds nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

KV=6.12.115+deb12-amd64
DEBVER=6.12.115-2~deb12u1
want_test=0
for arg in "$@"; do
	case "$arg" in
		--test) want_test=1 ;;
		*) echo "scripts/setup.sh: unknown argument $arg (expected --test)" >&2; exit 2 ;;
	esac
done

if [ "$(id -u)" != 0 ]; then
	echo "scripts/setup.sh: run as root (it installs Debian packages and writes /lib/modules)" >&2
	exit 2
fi

# package[=version] lists: what the main job needs, then what the tests add. npm ci compiles the native addons: g++
# (zstd-napi is C++), make and python3 (node-gyp), bzip2 (lzma-native unpacks its liblzma source, a .tar.bz2);
# `npm run example` boots the kernel under QEMU (qemu-system-x86, busybox-static).
base=(kmod xz-utils zstd gzip bzip2 gcc g++ make python3 libc6-dev liblzma-dev pahole qemu-system-x86 busybox-static
	"linux-headers-$KV=$DEBVER" "linux-image-$KV=$DEBVER")
tests=(dkms mmdebstrap "linux-source-6.12=$DEBVER" flex bison bc libelf-dev libssl-dev cpio openssl attr
	initramfs-tools python3-minimal systemd xfsprogs e2fsprogs dmsetup util-linux)
pkgs=("${base[@]}")
[ "$want_test" = 1 ] && pkgs+=("${tests[@]}")
# No Node.js or npm: the system's own (Debian 12: nodejs 18.20 and npm 9.2; kmodpress needs Node ^18.19.0 || >=20.5.0).
command -v node >/dev/null || pkgs+=(nodejs)
command -v npm >/dev/null || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
	name=${p%%=*}
	ver=${p#*=}
	have=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$name" 2>/dev/null || true)
	if [ "$name" = "$p" ]; then
		[ "${have%% *}" = installed ] || missing+=("$p")
	else
		[ "$have" = "installed $ver" ] || missing+=("$p")
	fi
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends --allow-downgrades "${missing[@]}" >/dev/null
fi
node_version=$(node -p 'process.versions.node')
# package.json's engines, which is execa 9's: ^18.19.0 || >=20.5.0
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit((a === 18 && b >= 19) || (a === 20 && b >= 5) || a > 20 ? 0 : 1)' ||
	{ echo "scripts/setup.sh: $(command -v node) is Node $node_version; kmodpress needs Node ^18.19.0 || >=20.5.0 (Debian 12's nodejs is 18.20)" >&2; exit 2; }

# npm dependencies: reinstall only when package-lock.json changed since the last install.
stamp=node_modules/.kmodpress-lock.sha256
sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
	echo "setup: npm ci"
	npm ci --no-audit --no-fund
	echo "$sum" > "$stamp"
fi
node scripts/build-lzma.mjs
node scripts/build-native.mjs --strict
npm run build

if [ "$want_test" = 1 ]; then
	export KMODPRESS_CACHE=${KMODPRESS_CACHE:-/var/cache/kmodpress-test}
	mkdir -p "$KMODPRESS_CACHE"
	for script in test/helpers/build-example.sh test/helpers/fetch-xz-trixie.sh test/fixtures/build.sh test/lab/build-kernels.sh; do
		if [ -f "$script" ]; then
			echo "setup: $script"
			start=$(date +%s)
			bash "$script"
			echo "setup: $script took $(( $(date +%s) - start )) s"
		fi
	done
fi
echo "setup: done"
