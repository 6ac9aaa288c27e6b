# Copyright 2024-2026 kmodpress authors
# Distributed under the terms of the GNU General Public License v2

# @ECLASS: kmodpress.eclass
# @MAINTAINER:
# kmodpress authors
# @SUPPORTED_EAPIS: 8
# @PROVIDES: linux-mod-r1
# @BLURB: compress linux-mod-r1 modules as the target kernel's modules_install would, and check them, with kmodpress
# @DESCRIPTION:
# Inherit this instead of linux-mod-r1 (it inherits linux-mod-r1 and keeps its pkg_setup, src_compile and
# src_install, so an ebuild's own src_install works unchanged). It adds three phases:
#
# pkg_pretend: checks that the ebuild's pkg_preinst and pkg_postinst (if it defines its own) call
#   kmodpress_pkg_preinst and kmodpress_pkg_postinst; dies before anything is built otherwise, saying what to add.
#
# pkg_preinst: on the image, whatever installed it (linux-mod-r1_src_install, make install, an ebuild's own
#   src_install):
#     kmodpress compress --root "${ED}" --target-root "${EROOT}" --kernel "${KV_FULL}" --build-dir "${KV_OUT_DIR}" \
#       --no-depmod "${ED}/lib/modules/${KV_FULL}"
#   The image is judged against the system it merges into (PMS: ROOT/EROOT are defined in pkg_* phases only):
#   dependencies such as videodev resolve from ${EROOT}/lib/modules/${KV_FULL}, and ${EROOT}/etc/kmodpress applies.
#   A dependency that no tree has yet is a warning here and an error after the merge.
#
# pkg_postinst: linux-mod-r1_pkg_postinst (depmod), then kmodpress compress --root "${EROOT}" on the merged files:
#   depmod -a -b "${EROOT}" KV_FULL, modules.dep must list every module, each is verified; dies with kmodpress's
#   one-line error otherwise.
#
# USE=modules-compress: linux-mod-r1 has already compressed the modules in src_install with
#   `xz -q --memlimit-compress=50% --threads=N --check=crc32 --lzma2=dict=1MiB` (or gzip/pigz, zstd -T). The kernel
#   reads that (kmodpress decodes it with the kernel's own decompressor rules to check), so kmodpress keeps it as it
#   is and says so; the bytes are xz's multi-threaded format, not what `make modules_install` writes (xz -T1 in
#   scripts/Makefile.modinst). USE=-modules-compress: the modules stay uncompressed (--compress none); the checks run.
#
# The kmodpress executable: ${KMODPRESS_BIN} if set (a path, never word-split), else kmodpress on PATH.
#
# @EXAMPLE:
# @CODE
# EAPI=8
# inherit kmodpress
# src_compile() {
# 	local modlist=( hello=extra )
# 	local modargs=( KDIR="${KV_OUT_DIR}" KVER="${KV_FULL}" )
# 	linux-mod-r1_src_compile
# }
# @CODE

case ${EAPI} in
	8) ;;
	*) die "${ECLASS}: EAPI ${EAPI:-0} not supported" ;;
esac

if [[ -z ${_KMODPRESS_ECLASS} ]]; then
_KMODPRESS_ECLASS=1

inherit linux-mod-r1

IDEPEND="sys-kernel/kmodpress"

# @FUNCTION: kmodpress_bin
# @DESCRIPTION:
# Print the kmodpress executable, or die saying how to get one.
kmodpress_bin() {
	local bin=${KMODPRESS_BIN:-}
	if [[ -z ${bin} ]]; then
		bin=$(type -P kmodpress) || die "kmodpress: the kmodpress command is not installed (emerge sys-kernel/kmodpress, or set KMODPRESS_BIN)"
	fi
	[[ -x ${bin} ]] || die "kmodpress: KMODPRESS_BIN=${bin} is not an executable file"
	printf '%s\n' "${bin}"
}

# @FUNCTION: _kmodpress_root
# @INTERNAL
# @DESCRIPTION:
# ${EROOT} without its trailing slash, / when empty.
_kmodpress_root() {
	local root=${EROOT%/}
	printf '%s\n' "${root:-/}"
}

# @FUNCTION: _kmodpress_check_phases
# @INTERNAL
# @DESCRIPTION:
# Die when the ebuild defines its own pkg_preinst or pkg_postinst that does not call kmodpress's: its modules would
# be merged unchecked (pkg_preinst) or never checked after depmod (pkg_postinst).
_kmodpress_check_phases() {
	local phase
	for phase in pkg_preinst pkg_postinst; do
		[[ $(declare -f "${phase}") == *kmodpress_* ]] && continue
		die "kmodpress.eclass: this ebuild defines its own ${phase} without kmodpress: add kmodpress_${phase} to it (e.g. ${phase}() { kmodpress_${phase}; ... })"
	done
}

# @FUNCTION: kmodpress_pkg_pretend
# @DESCRIPTION:
# Before anything is built: the ebuild's own pkg_preinst/pkg_postinst must call kmodpress's.
kmodpress_pkg_pretend() {
	_kmodpress_check_phases
}

# @FUNCTION: kmodpress_image_modules
# @INTERNAL
# @DESCRIPTION:
# Record the module files of ${ED}/lib/modules/${KV_FULL} (relative) in KMODPRESS_FILES for pkg_postinst.
_kmodpress_image_modules() {
	local dir=${ED%/}/lib/modules/${KV_FULL} f
	KMODPRESS_FILES=()
	while IFS= read -r -d '' f; do
		KMODPRESS_FILES+=( "${f#${dir}/}" )
	done < <(find "${dir}" \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' \) -type f -print0 | sort -z)
}

# @FUNCTION: kmodpress_pkg_preinst
# @DESCRIPTION:
# Compress (or keep) and check the modules of the image against the system it merges into; no depmod. Works on
# whatever installed the modules into ${ED}/lib/modules/${KV_FULL}.
kmodpress_pkg_preinst() {
	[[ -n ${KV_FULL} ]] || die "kmodpress: KV_FULL is not set (linux-mod-r1_pkg_setup did not run?)"
	_kmodpress_check_phases
	local dir=${ED%/}/lib/modules/${KV_FULL} root bin args
	KMODPRESS_PREINST=1
	KMODPRESS_FILES=()
	if [[ ! -d ${dir} ]]; then
		ewarn "kmodpress: no modules in ${dir#${D%/}}; nothing to compress"
		return 0
	fi
	root=$(_kmodpress_root)
	bin=$(kmodpress_bin) || die
	args=( compress --root "${ED%/}" --target-root "${root}" --kernel "${KV_FULL}" --no-depmod )
	[[ -n ${KV_OUT_DIR} && -d ${KV_OUT_DIR} ]] && args+=( --build-dir "${KV_OUT_DIR}" )
	if in_iuse modules-compress && use modules-compress; then
		einfo "kmodpress: USE=modules-compress: keeping linux-mod-r1's compressed modules as they are (xz --threads: multi-threaded format, not modules_install's bytes; the kernel reads it) and checking them against ${root}"
	else
		args+=( --compress none )
		einfo "kmodpress: USE=-modules-compress: leaving the modules uncompressed; checking them against ${root}"
	fi
	"${bin}" "${args[@]}" -- "${dir}" ||
		die "kmodpress failed for ${dir#${D%/}} (exit $?): the kernel ${KV_FULL} would not load these modules on ${root}; see the kmodpress: line above"
	_kmodpress_image_modules
}

# @FUNCTION: kmodpress_pkg_postinst
# @DESCRIPTION:
# linux-mod-r1_pkg_postinst, then depmod for ${EROOT}, the modules.dep check and the verification of the merged files.
kmodpress_pkg_postinst() {
	linux-mod-r1_pkg_postinst
	[[ -n ${KV_FULL} ]] || die "kmodpress: KV_FULL is not set"
	[[ -n ${KMODPRESS_PREINST} ]] ||
		die "kmodpress.eclass: kmodpress_pkg_preinst did not run (this ebuild's pkg_preinst must call it); the merged modules are unchecked"
	local root moddir bin args files=() f
	root=$(_kmodpress_root)
	moddir=${root%/}/lib/modules/${KV_FULL}
	for f in "${KMODPRESS_FILES[@]}"; do
		files+=( "${moddir}/${f}" )
	done
	if [[ ${#files[@]} -eq 0 ]]; then
		einfo "kmodpress: the image held no modules for ${KV_FULL}; nothing to check"
		return 0
	fi
	bin=$(kmodpress_bin) || die
	args=( compress --root "${root}" --kernel "${KV_FULL}" --compress none )
	[[ -n ${KV_OUT_DIR} && -d ${KV_OUT_DIR} ]] && args+=( --build-dir "${KV_OUT_DIR}" )
	einfo "kmodpress: depmod and checks for ${KV_FULL} in ${root}"
	"${bin}" "${args[@]}" -- "${files[@]}" ||
		die "kmodpress failed after merging (exit $?): modules.dep for ${KV_FULL} in ${root} may lack these modules or the kernel would refuse them; see the kmodpress: line above"
}

fi

EXPORT_FUNCTIONS pkg_pretend pkg_preinst pkg_postinst
