#!/usr/bin/env bash
# The kernel lab's fixtures (run by scripts/setup.sh --test; idempotent, a second run takes well under a second):
#   $KMODPRESS_CACHE/lab/linux-source-6.12/   Debian's /usr/src/linux-source-6.12.tar.xz, extracted once
#   $KMODPRESS_CACHE/lab/{gzip,zstd,xz}/      three tiny x86_64 kernels, each an O= build tree usable for out-of-tree
#                                             modules (.config, Module.symvers, include/, scripts/, arch/x86/boot/bzImage)
#       gzip  MODULE_COMPRESS_GZIP + MODULE_DECOMPRESS
#       zstd  MODULE_COMPRESS_ZSTD + MODULE_DECOMPRESS
#       xz    MODULE_COMPRESS_XZ + MODULE_DECOMPRESS, every XZ_DEC_<ARCH> BCJ decoder off, MODULE_SIG_FORCE with its
#             own generated key (certs/signing_key.pem, certs/signing_key.x509)
#   $KMODPRESS_CACHE/lab/loader               native/loader.c, static: finit_module(fd, params, 4) like kmod >= 31
#                                             (loader.stamp: the source's sha256, then gcc's version line)
# Each tree has .kmodpress-stamp (a hash of everything that decides its contents) and .kmodpress-build-seconds.
# Environment: KMODPRESS_CACHE, KMODPRESS_LAB_VARIANTS (default "gzip zstd xz"), KMODPRESS_LINUX_SOURCE (tarball).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
CACHE=${KMODPRESS_CACHE:-/var/cache/kmodpress-test}
LAB=$CACHE/lab
TARBALL=${KMODPRESS_LINUX_SOURCE:-/usr/src/linux-source-6.12.tar.xz}
SRC=$LAB/linux-source-6.12
JOBS=$(nproc)
read -r -a variants <<< "${KMODPRESS_LAB_VARIANTS:-gzip zstd xz}"

log() { echo "build-kernels: $*"; }
die() { echo "build-kernels: ERROR: $*" >&2; exit 1; }

mkdir -p "$LAB"

# --- the static loader -------------------------------------------------------------------------------------------
loader_c=$here/../../native/loader.c
loader_stamp=$(sha256sum < "$loader_c" | cut -d' ' -f1; gcc --version | head -1)
if [ ! -x "$LAB/loader" ] || [ "$(cat "$LAB/loader.stamp" 2>/dev/null)" != "$loader_stamp" ]; then
	log "building loader"
	gcc -static -O2 -Wall -Werror -o "$LAB/loader.tmp" "$loader_c"
	mv -f "$LAB/loader.tmp" "$LAB/loader"
	echo "$loader_stamp" > "$LAB/loader.stamp"
fi

# --- the kernel source, extracted once ---------------------------------------------------------------------------
[ -f "$TARBALL" ] || die "$TARBALL is missing (Debian: apt-get install linux-source-6.12)"
src_id="$(basename "$TARBALL") $(stat -c '%s %Y' "$TARBALL")"
extract_source() {
	log "extracting $TARBALL"
	local start
	start=$(date +%s)
	rm -rf "$SRC" "$SRC.partial"
	mkdir "$SRC.partial"
	tar -C "$SRC.partial" --strip-components=1 -xJf "$TARBALL"
	echo "$src_id" > "$SRC.partial/.kmodpress-source"
	mv "$SRC.partial" "$SRC"
	log "extracted in $(( $(date +%s) - start )) s"
}
if [ ! -f "$SRC/Makefile" ] || [ "$(cat "$SRC/.kmodpress-source" 2>/dev/null)" != "$src_id" ]; then
	extract_source
fi

# Once the kernels are built, out-of-tree builds against them need only the source's Makefile, Kbuild/Kconfig,
# include/, scripts/ and arch/x86/ (a module built against the pruned tree is byte-identical): 1.6 GB → ~80 MB.
# A later kernel build extracts the tarball again.
prune_source() {
	[ -f "$SRC/.kmodpress-pruned" ] && return 0
	local e
	for e in "$SRC"/* "$SRC"/.[!.]*; do
		case "$(basename "$e")" in
			Makefile | Kbuild | Kconfig | arch | include | scripts | .kmodpress-source) ;;
			*) rm -rf "$e" ;;
		esac
	done
	for e in "$SRC"/arch/*; do
		[ -d "$e" ] && [ "$(basename "$e")" != x86 ] && rm -rf "$e"
	done
	touch "$SRC/.kmodpress-pruned"
	log "pruned the source to $(du -sh "$SRC" | cut -f1)"
}

# --- the configuration ---------------------------------------------------------------------------------------------
# Options every lab kernel must end up with (checked after olddefconfig, which silently drops what lacks its deps).
common_on=(64BIT MODULES MODULE_UNLOAD MODVERSIONS MODULE_COMPRESS MODULE_DECOMPRESS MODULE_COMPRESS_ALL
	BLK_DEV_INITRD RD_GZIP PRINTK TTY SERIAL_8250 SERIAL_8250_CONSOLE BINFMT_ELF BINFMT_SCRIPT DEVTMPFS
	DEVTMPFS_MOUNT PROC_FS SYSFS MULTIUSER FUTEX EARLY_PRINTK)
xz_bcj=(XZ_DEC_X86 XZ_DEC_POWERPC XZ_DEC_ARM XZ_DEC_ARMTHUMB XZ_DEC_ARM64 XZ_DEC_SPARC XZ_DEC_RISCV XZ_DEC_IA64)

variant_on() {
	case "$1" in
		gzip) echo MODULE_COMPRESS_GZIP ZLIB_INFLATE ;;
		zstd) echo MODULE_COMPRESS_ZSTD ZSTD_DECOMPRESS ;;
		xz) echo MODULE_COMPRESS_XZ XZ_DEC MODULE_SIG MODULE_SIG_FORCE MODULE_SIG_ALL MODULE_SIG_SHA256 ;;
		*) die "unknown variant $1 (expected gzip, zstd or xz)" ;;
	esac
}
variant_off() {
	case "$1" in
		gzip) echo MODULE_COMPRESS_ZSTD MODULE_COMPRESS_XZ MODULE_COMPRESS_NONE MODULE_SIG ;;
		zstd) echo MODULE_COMPRESS_GZIP MODULE_COMPRESS_XZ MODULE_COMPRESS_NONE MODULE_SIG ;;
		xz) echo MODULE_COMPRESS_GZIP MODULE_COMPRESS_ZSTD MODULE_COMPRESS_NONE "${xz_bcj[*]}" ;;
	esac
}

configure() { # $1 variant, $2 build dir
	local v=$1 b=$2 cfg=$2/.config o
	local on=("${common_on[@]}") off
	read -r -a extra <<< "$(variant_on "$v")"
	on+=("${extra[@]}")
	read -r -a off <<< "$(variant_off "$v")"
	off+=(LOCALVERSION_AUTO)
	make -s -C "$SRC" O="$b" ARCH=x86_64 tinyconfig >/dev/null
	local args=()
	for o in "${on[@]}"; do args+=(-e "$o"); done
	for o in "${off[@]}"; do args+=(-d "$o"); done
	args+=(--set-str LOCALVERSION "-kmodpress-$v")
	[ "$v" = xz ] && args+=(--set-str MODULE_SIG_KEY certs/signing_key.pem)
	# twice through olddefconfig: an option whose dependency is enabled by the same pass needs the second one
	"$SRC/scripts/config" --file "$cfg" "${args[@]}"
	make -s -C "$SRC" O="$b" ARCH=x86_64 olddefconfig >/dev/null
	"$SRC/scripts/config" --file "$cfg" "${args[@]}"
	make -s -C "$SRC" O="$b" ARCH=x86_64 olddefconfig >/dev/null
	local bad=()
	for o in "${on[@]}"; do grep -qx "CONFIG_$o=y" "$cfg" || bad+=("$o not =y"); done
	for o in "${off[@]}"; do ! grep -q "^CONFIG_$o=[ym]" "$cfg" || bad+=("$o still set"); done
	grep -qx "CONFIG_LOCALVERSION=\"-kmodpress-$v\"" "$cfg" || bad+=("LOCALVERSION not -kmodpress-$v")
	[ "${#bad[@]}" -eq 0 ] || die "$v: olddefconfig did not keep what was asked: ${bad[*]} (see $cfg)"
}

# Everything that decides a kernel tree's contents (not the rest of this script, so editing it rebuilds nothing).
LAB_CONFIG_VERSION=1
config_hash() { # $1 variant
	{
		echo "$LAB_CONFIG_VERSION $1 $src_id"
		echo "${common_on[*]} | $(variant_on "$1") | $(variant_off "$1")"
		declare -f configure
		gcc --version | head -1
	} | sha256sum | cut -d' ' -f1
}

# Every variant is built in one work tree, $LAB/work, then copied out: kbuild rebuilds only what the changed options
# touch (fixdep records every CONFIG_ a file uses), so the second and third kernels cost a fraction of the first.
# (Copying a built tree to a new path instead would rebuild tools/objtool, whose paths are absolute, and with it
# every object.) The work tree is removed at the end; .kmodpress-work-ok marks it as left by a finished build.
WORK=$LAB/work

build_variant() { # $1 variant
	local v=$1 b=$LAB/$1
	local hash
	hash=$(config_hash "$v")
	if [ -f "$b/arch/x86/boot/bzImage" ] && [ "$(cat "$b/.kmodpress-stamp" 2>/dev/null)" = "$hash" ]; then
		log "$v: cached ($(cat "$b/include/config/kernel.release"), built in $(cat "$b/.kmodpress-build-seconds") s)"
		return 0
	fi
	local start
	start=$(date +%s)
	[ -f "$SRC/.kmodpress-pruned" ] && extract_source
	if [ -f "$WORK/.kmodpress-work-ok" ]; then
		log "$v: configuring in $WORK (incremental)"
	else
		log "$v: configuring in $WORK"
		rm -rf "$WORK"
		mkdir -p "$WORK"
	fi
	rm -f "$WORK/.kmodpress-work-ok"
	configure "$v" "$WORK"
	log "$v: make -j$JOBS bzImage modules (log: $LAB/$v.build.log)"
	if ! make -C "$SRC" O="$WORK" ARCH=x86_64 -j"$JOBS" bzImage modules > "$LAB/$v.build.log" 2>&1; then
		tail -40 "$LAB/$v.build.log" >&2
		die "$v: kernel build failed (full log: $LAB/$v.build.log)"
	fi
	touch "$WORK/.kmodpress-work-ok"
	local f need=(arch/x86/boot/bzImage Module.symvers .config include/config/kernel.release include/generated/autoconf.h
		arch/x86/include/generated/asm scripts/mod/modpost scripts/basic/fixdep Makefile)
	[ "$v" = xz ] && need+=(certs/signing_key.pem certs/signing_key.x509 scripts/sign-file)
	for f in "${need[@]}"; do [ -e "$WORK/$f" ] || die "$v: $WORK/$f missing after the build"; done
	grep -qx "6\.12\.[0-9]*-kmodpress-$v" "$WORK/include/config/kernel.release" \
		|| die "$v: kernel.release is $(cat "$WORK/include/config/kernel.release"), expected 6.12.*-kmodpress-$v"
	# the copy: what out-of-tree builds need. Objects and kbuild's .cmd dependency files are not (scripts/ and tools/
	# keep theirs: the host programs there are used), which takes a tree from ~84 to ~36 MB.
	rm -rf "$b" "$b.partial"
	cp -a "$WORK" "$b.partial"
	rm -f "$b.partial/.kmodpress-work-ok"
	find "$b.partial" \( -name '*.o' -o -name '.*.cmd' \) ! -path "$b.partial/scripts/*" ! -path "$b.partial/tools/*" -delete
	rm -f "$b.partial"/vmlinux.o "$b.partial"/vmlinux.a "$b.partial"/.tmp_vmlinux* "$b.partial/arch/x86/boot/vmlinux.bin" \
		"$b.partial/arch/x86/boot/compressed/vmlinux"*
	mv "$LAB/$v.build.log" "$b.partial/build.log"
	echo $(( $(date +%s) - start )) > "$b.partial/.kmodpress-build-seconds"
	echo "$hash" > "$b.partial/.kmodpress-stamp"
	mv "$b.partial" "$b"
	log "$v: built $(cat "$b/include/config/kernel.release") in $(cat "$b/.kmodpress-build-seconds") s ($(du -sh "$b" | cut -f1))"
}

# --- examples/kmodpress-hello built against each tree ---------------------------------------------------------------
# $LAB/hello-<variant>/kmodpress_hello.ko (unsigned; the lab test signs it for the xz kernel itself).
example=$here/../../examples/kmodpress-hello
build_hello() { # $1 variant
	local v=$1 b=$LAB/$1 out=$LAB/hello-$1 hash
	hash=$( { cat "$example/kmodpress_hello.c" "$example/Kbuild" "$b/.kmodpress-stamp"; } | sha256sum | cut -d' ' -f1)
	if [ -f "$out/kmodpress_hello.ko" ] && [ "$(cat "$out/.kmodpress-stamp" 2>/dev/null)" = "$hash" ]; then
		return 0
	fi
	rm -rf "$out"
	mkdir -p "$out/src"
	cp "$example/kmodpress_hello.c" "$example/Kbuild" "$out/src/"
	if ! make -C "$b" M="$out/src" modules > "$out/build.log" 2>&1; then
		cat "$out/build.log" >&2
		die "$v: building examples/kmodpress-hello against $b failed"
	fi
	cp "$out/src/kmodpress_hello.ko" "$out/kmodpress_hello.ko"
	echo "$hash" > "$out/.kmodpress-stamp"
	log "$v: built examples/kmodpress-hello ($out/kmodpress_hello.ko)"
}

total_start=$(date +%s)
for v in "${variants[@]}"; do build_variant "$v"; done
rm -rf "$WORK"
prune_source
for v in "${variants[@]}"; do build_hello "$v"; done
log "done in $(( $(date +%s) - total_start )) s"
