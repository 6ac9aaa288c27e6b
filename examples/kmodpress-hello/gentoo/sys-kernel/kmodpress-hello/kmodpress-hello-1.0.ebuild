# Copyright 2024-2025 kmodpress authors
# Distributed under the terms of the GNU General Public License v2

# The kmodpress example module as a Gentoo package: linux-mod-r1 builds it, kmodpress.eclass compresses it as the
# target kernel's modules_install would (src_install) and runs depmod + the checks after merging (pkg_postinst).
# Use from an overlay that also holds eclass/kmodpress.eclass (a copy of eclass-shim/kmodpress.eclass);
# see docs/integrations.md.

EAPI=8

inherit kmodpress

DESCRIPTION="kmodpress example out-of-tree kernel module (exports a symbol, takes a parameter)"
HOMEPAGE="https://github.com/kmodpress/kmodpress"
S=${WORKDIR}/kmodpress-hello

LICENSE="GPL-2"
SLOT="0"
KEYWORDS="~amd64"

src_unpack() {
	mkdir -p "${S}" || die
	cp "${FILESDIR}"/{kmodpress_hello.c,Kbuild} "${S}"/ || die
}

src_compile() {
	local modlist=( kmodpress_hello=extra )
	linux-mod-r1_src_compile
}
