# Copyright 2024-2025 kmodpress authors
# Distributed under the terms of the GNU General Public License v2

# @ECLASS: kmodpress.eclass
# @SUPPORTED_EAPIS: 8
# @PROVIDES: linux-mod-r1
# @BLURB: compress linux-mod-r1 modules exactly as the target kernel's modules_install would, with kmodpress
# @DESCRIPTION:
# Inherit this instead of (or after) linux-mod-r1. It wraps two phases:
#
# src_install: linux-mod-r1_src_install, then
#   kmodpress compress --root "${ED}" --kernel "${KV_FULL}" --build-dir "${KV_OUT_DIR}" --no-depmod \
#     "${ED}/lib/modules/${KV_FULL}"
#   which (re)compresses every module of the image with the target kernel's own parameters (e.g. xz
#   --check=crc32 --lzma2=dict=1MiB for 6.6+), keeping signatures, decoding each result back before it replaces
#   anything. depmod is not run here (sandbox, image): that is pkg_postinst's job.
#
# pkg_postinst: linux-mod-r1_pkg_postinst, then kmodpress compress on the merged files in ${EROOT}, which runs
#   depmod -a -b "${EROOT}" KV_FULL, checks that modules.dep lists every module and verifies each one; dies with
#   kmodpress's one-line error otherwise.
#
# USE=-modules-compress: src_install leaves the modules as linux-mod-r1 installed them (plain .ko);
# pkg_postinst still runs depmod and the checks, with --compress none (nothing is compressed).
#
# The kmodpress executable: ${KMODPRESS_BIN} if set (a path, never word-split), else kmodpress on PATH.
#
# @EXAMPLE:
# @CODE
# EAPI=8
# inherit kmodpress
# src_compile() { local modlist=( hello=extra ); linux-mod-r1_src_compile; }
# @CODE

case ${EAPI} in
	8) ;;
	*) die "${ECLASS}: EAPI ${EAPI:-0} not supported" ;;
esac

if [[ -z ${_KMODPRESS_ECLASS} ]]; then
_KMODPRESS_ECLASS=1

inherit linux-mod-r1

BDEPEND="modules-compress? ( sys-kernel/kmodpress )"
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

# @FUNCTION: _kmodpress_compress_wanted
# @INTERNAL
# @DESCRIPTION:
# True when USE=modules-compress is on (or the ebuild has no such flag).
_kmodpress_compress_wanted() {
	if declare -F in_iuse >/dev/null && ! in_iuse modules-compress; then
		return 0
	fi
	use modules-compress
}

# @FUNCTION: kmodpress_compress_image
# @DESCRIPTION:
# Compress the modules in ${ED}/lib/modules/${KV_FULL} as the target kernel would; no depmod. Records the module
# files (relative to lib/modules/${KV_FULL}) in KMODPRESS_FILES for pkg_postinst.
kmodpress_compress_image() {
	[[ -n ${KV_FULL} ]] || die "kmodpress: KV_FULL is not set (linux-mod-r1_pkg_setup did not run?)"
	local dir=${ED%/}/lib/modules/${KV_FULL}
	KMODPRESS_FILES=()
	if [[ ! -d ${dir} ]]; then
		ewarn "kmodpress: no modules in ${dir#${D%/}}; nothing to compress"
		return 0
	fi
	if ! _kmodpress_compress_wanted; then
		einfo "kmodpress: USE=-modules-compress: leaving the modules uncompressed"
	else
		local bin args
		bin=$(kmodpress_bin) || die
		args=( compress --root "${ED%/}" --kernel "${KV_FULL}" --no-depmod )
		[[ -n ${KV_OUT_DIR} ]] && args+=( --build-dir "${KV_OUT_DIR}" )
		einfo "kmodpress: compressing the modules for ${KV_FULL} as its modules_install would"
		"${bin}" "${args[@]}" -- "${dir}" ||
			die "kmodpress compress failed for ${dir#${D%/}} (exit $?): the kernel ${KV_FULL} would not load these modules; see the kmodpress: line above"
		# kmodpress's per-kernel lock file must not become part of the package
		rm -f "${dir}/.kmodpress.lock" || die
	fi
	local f
	while IFS= read -r -d '' f; do
		KMODPRESS_FILES+=( "${f#${dir}/}" )
	done < <(find "${dir}" \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' \) -type f -print0 | sort -z)
}

# @FUNCTION: kmodpress_postinst
# @DESCRIPTION:
# After the merge: depmod for ${EROOT}, check modules.dep lists every module of this package, verify them.
kmodpress_postinst() {
	[[ -n ${KV_FULL} ]] || die "kmodpress: KV_FULL is not set"
	local root=${EROOT%/}
	root=${root:-/}
	local moddir=${root%/}/lib/modules/${KV_FULL}
	local bin args files=() f
	bin=$(kmodpress_bin) || die
	for f in "${KMODPRESS_FILES[@]}"; do
		files+=( "${moddir}/${f}" )
	done
	if [[ ${#files[@]} -eq 0 ]]; then
		einfo "kmodpress: no modules recorded for ${KV_FULL}; nothing to check"
		return 0
	fi
	args=( compress --root "${root}" --kernel "${KV_FULL}" )
	_kmodpress_compress_wanted || args+=( --compress none )
	[[ -n ${KV_OUT_DIR} && -d ${KV_OUT_DIR} ]] && args+=( --build-dir "${KV_OUT_DIR}" )
	einfo "kmodpress: depmod and checks for ${KV_FULL} in ${root}"
	"${bin}" "${args[@]}" -- "${files[@]}" ||
		die "kmodpress failed after merging (exit $?): modules.dep for ${KV_FULL} in ${root} may lack these modules or the kernel would refuse them; see the kmodpress: line above"
}

# @FUNCTION: kmodpress_src_install
# @DESCRIPTION:
# linux-mod-r1_src_install, then kmodpress_compress_image.
kmodpress_src_install() {
	linux-mod-r1_src_install
	kmodpress_compress_image
}

# @FUNCTION: kmodpress_pkg_postinst
# @DESCRIPTION:
# linux-mod-r1_pkg_postinst, then kmodpress_postinst.
kmodpress_pkg_postinst() {
	linux-mod-r1_pkg_postinst
	kmodpress_postinst
}

fi

EXPORT_FUNCTIONS src_install pkg_postinst
