# Test stand-in for Gentoo's linux-mod-r1.eclass: just the parts kmodpress.eclass and hooks/portage/bashrc touch.
# src_compile "builds" from the module the test setup already built against Debian's headers
# ($KMODPRESS_TEST_PREBUILT/<name>.ko); src_install installs it UNcompressed into
# ${ED}/lib/modules/${KV_FULL}/<dir> as modlist says (like linux-mod-r1 with USE=-modules-compress, or before its
# own compression); pkg_postinst only leaves a marker (the real one runs depmod; the test checks that kmodpress does).
IUSE="dist-kernel modules-compress modules-sign +strip"

linux-mod-r1_pkg_setup() {
	[[ -n ${KV_FULL} && -n ${KV_OUT_DIR} ]] || die "fake linux-mod-r1: KV_FULL/KV_OUT_DIR must be set"
}

linux-mod-r1_src_compile() {
	local m
	_FAKE_MODLIST=( "${modlist[@]}" )
	for m in "${modlist[@]}"; do
		cp "${KMODPRESS_TEST_PREBUILT}/${m%%=*}.ko" "${S}/" || die "fake linux-mod-r1: no prebuilt ${m%%=*}.ko"
	done
}

linux-mod-r1_src_install() {
	local m name dir
	for m in "${_FAKE_MODLIST[@]}"; do
		name=${m%%=*}
		dir=${m#*=}
		mkdir -p "${ED}/lib/modules/${KV_FULL}/${dir}" || die
		install -m 0644 "${S}/${name}.ko" "${ED}/lib/modules/${KV_FULL}/${dir}/" || die
	done
}

linux-mod-r1_pkg_postinst() {
	touch "${T}/linux-mod-r1_pkg_postinst.ran"
}

EXPORT_FUNCTIONS pkg_setup src_compile src_install pkg_postinst
