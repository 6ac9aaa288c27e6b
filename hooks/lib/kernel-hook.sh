# kmodpress: shared part of the hooks (hooks/postinst.d/kmodpress, hooks/kernel-install/50-kmodpress.install,
# hooks/dkms/post-install, hooks/dkms/post-transaction): the one lookup of the kmodpress executable (kmodpress_find),
# where out-of-tree modules are installed, depmod for a root. Sourced, not executed.
# kmodpress_kernel_hook NAME KV fixes the out-of-tree modules of kernel KV once its modules are in place:
#   1. every DKMS module installed for KV goes through hooks/dkms/post-install (compress as the kernel's own
#      modules_install would, and DKMS's copy under /var/lib/dkms rewritten to match, so `dkms status` stays clean);
#   2. `kmodpress recompress --kernel KV --root ROOT`: every other module outside modules.order (extra/, updates/,
#      weak-updates/ …), then depmod once, then the check that modules.dep lists each of them.
# Environment:
#   KMODPRESS_BIN     the kmodpress executable (a path; never word-split). Default: kmodpress on PATH, else
#                     node <this checkout>/dist/cli.js when the hooks run from a built checkout.
#   KMODPRESS_ROOT    the system root the kernel lives in (default /): for tests and image builders.
#   KMODPRESS_HOOK_STRICT=1   exit 1 when a module fails (default: print the failure loudly, exit 0, so a module
#                     that would not load never blocks installing the kernel itself).

kmodpress_hook_dir=$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/..

# Sets the array kmodpress_cmd to the command that runs kmodpress, or prints why it cannot (also kept in
# kmodpress_why) and returns 1.
kmodpress_find() {
	kmodpress_why=
	if [ -n "${KMODPRESS_BIN:-}" ] && [ -x "$KMODPRESS_BIN" ]; then
		kmodpress_cmd=("$KMODPRESS_BIN")
	elif [ -n "${KMODPRESS_BIN:-}" ]; then
		kmodpress_why="KMODPRESS_BIN=$KMODPRESS_BIN is not an executable file"
	elif p=$(type -P kmodpress); then
		kmodpress_cmd=("$p")
	elif [ -f "$kmodpress_hook_dir/../dist/cli.js" ] && p=$(type -P node); then
		kmodpress_cmd=("$p" "$(readlink -f -- "$kmodpress_hook_dir/../dist/cli.js")")
	else
		kmodpress_why="kmodpress is not installed (not on PATH, KMODPRESS_BIN unset, no built checkout)"
	fi
	[ -z "$kmodpress_why" ] || { echo "$kmodpress_why" >&2; return 1; }
}

# The suffixes of a module file (kmod reads each; scripts/Makefile.modinst writes .ko, .ko.gz, .ko.xz or .ko.zst).
kmodpress_suffixes=(.ko .ko.gz .ko.xz .ko.zst)

# Where the modules NAME… are installed in the module directory MODDIR: every NAME.ko* file or symlink outside
# kernel/ (the kernel's own modules) and the build and source links, printed with find's -printf FORMAT.
# kmodpress_installed_modules MODDIR FORMAT NAME...
kmodpress_installed_modules() {
	local moddir=$1 format=$2 n s names=()
	shift 2
	for n in "$@"; do
		for s in "${kmodpress_suffixes[@]}"; do
			[ "${#names[@]}" -gt 0 ] && names+=(-o)
			names+=(-name "$n$s")
		done
	done
	[ "${#names[@]}" -gt 0 ] || return 0
	find "$moddir" -mindepth 1 \( -path "$moddir/kernel" -o -path "$moddir/build" -o -path "$moddir/source" \) -prune -o \
		\( "${names[@]}" \) \( -type f -o -type l \) -printf "$format"
}

# depmod ARGS… for the system under ROOT (-b ROOT unless ROOT is /).
# kmodpress_depmod ROOT ARGS...
kmodpress_depmod() {
	local root=$1
	shift
	if [ "$root" = / ]; then depmod "$@"; else depmod -b "$root" "$@"; fi
}

# The DKMS modules installed for kernel KV ($dkms_tree/<module>/kernel-<KV>-<arch> → <version>/<KV>/<arch>, with
# DKMS's built copy present): sets the arrays kmodpress_dkms_module, kmodpress_dkms_version, kmodpress_dkms_arch.
# kmodpress_dkms_installed KV DKMS_TREE
kmodpress_dkms_installed() {
	local kv=$1 dkms_tree=$2 link target module version arch
	kmodpress_dkms_module=() kmodpress_dkms_version=() kmodpress_dkms_arch=()
	[ -d "$dkms_tree" ] || return 0
	for link in "$dkms_tree"/*/kernel-"$kv"-*; do
		[ -L "$link" ] || continue
		module=${link%/*}
		module=${module##*/}
		arch=${link##*/kernel-"$kv"-}
		target=$(readlink -- "$link")
		version=${target%%/*}
		[ -d "$dkms_tree/$module/$version/$kv/$arch/module" ] || continue
		kmodpress_dkms_module+=("$module")
		kmodpress_dkms_version+=("$version")
		kmodpress_dkms_arch+=("$arch")
	done
}

# hooks/dkms/post-install for every DKMS module installed for KV under ROOT (its depmod -n check skipped: the caller
# runs depmod). Returns 1 when one of them failed. DKMS tree: $KMODPRESS_DKMS_TREE, else ROOT/var/lib/dkms.
# kmodpress_dkms_post_install_all NAME KV ROOT
kmodpress_dkms_post_install_all() {
	kmodpress_dkms_installed "$2" "${KMODPRESS_DKMS_TREE:-${3%/}/var/lib/dkms}"
	kmodpress_dkms_run_hooks "$@"
}

# The same for the modules in the arrays kmodpress_dkms_installed set (a caller may have filtered them).
# kmodpress_dkms_run_hooks NAME KV ROOT
kmodpress_dkms_run_hooks() {
	local name=$1 kv=$2 root=$3 i rc=0
	local dkms_tree=${KMODPRESS_DKMS_TREE:-${root%/}/var/lib/dkms}
	for i in "${!kmodpress_dkms_module[@]}"; do
		echo "kmodpress: $name: DKMS module ${kmodpress_dkms_module[$i]}/${kmodpress_dkms_version[$i]} for $kv (${kmodpress_dkms_arch[$i]})"
		KMODPRESS_DKMS_TREE=$dkms_tree KMODPRESS_INSTALL_TREE=${root%/}/lib/modules KMODPRESS_DKMS_DEPMOD_CHECK=0 \
			"$kmodpress_hook_dir/dkms/post-install" "$kv" "${kmodpress_dkms_arch[$i]}" "${kmodpress_dkms_module[$i]}" "${kmodpress_dkms_version[$i]}" || rc=1
	done
	return "$rc"
}

kmodpress_kernel_hook() {
	local name=$1 kv=$2 root=${KMODPRESS_ROOT:-/} rc=0
	local me="kmodpress: $name"
	if [ -z "$kv" ]; then
		echo "$me: no kernel version given" >&2
		return 2
	fi
	if ! kmodpress_find; then
		echo "$me FAILED for $kv: kmodpress cannot run; the out-of-tree modules of $kv are left as they are" >&2
		[ "${KMODPRESS_HOOK_STRICT:-0}" = 1 ] && return 2
		echo "$me: continuing the kernel installation anyway (set KMODPRESS_HOOK_STRICT=1 to make this fatal)" >&2
		return 0
	fi
	local moddir=${root%/}/lib/modules/$kv
	if [ ! -d "$moddir" ]; then
		echo "$me: $moddir does not exist; nothing to do"
		return 0
	fi

	# 1. DKMS modules installed for this kernel, through hooks/dkms/post-install.
	kmodpress_dkms_post_install_all "$name" "$kv" "$root" || rc=1

	# 2. Everything out of tree, depmod once, modules.dep checked.
	echo "$me: kmodpress recompress --kernel $kv --root $root"
	"${kmodpress_cmd[@]}" recompress --kernel "$kv" --root "$root"
	local r=$?
	if [ "$r" = 2 ] || [ "$r" = 3 ] || [ "$r" = 70 ]; then
		echo "$me FAILED: kmodpress recompress exited $r for $kv (nothing was changed; see the kmodpress: line above)" >&2
		rc=1
	elif [ "$r" != 0 ]; then
		echo "$me FAILED: kmodpress recompress exited $r for $kv: a module of this kernel would not load or is missing from modules.dep (see above)" >&2
		rc=1
	fi
	if [ "$rc" = 0 ]; then
		echo "$me OK: out-of-tree modules of $kv are compressed as its modules_install would, depmod done"
		return 0
	fi
	[ "${KMODPRESS_HOOK_STRICT:-0}" = 1 ] && return 1
	echo "$me: continuing the kernel installation anyway (set KMODPRESS_HOOK_STRICT=1 to make this fatal)" >&2
	return 0
}
