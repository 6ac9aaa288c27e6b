# Test ebuild: the example module with plain linux-mod-r1 (no kmodpress.eclass), for hooks/portage/bashrc.
EAPI=8
inherit linux-mod-r1
S=${WORKDIR}/plain-hello
src_compile() {
	local modlist=( kmodpress_hello=extra )
	linux-mod-r1_src_compile
}
