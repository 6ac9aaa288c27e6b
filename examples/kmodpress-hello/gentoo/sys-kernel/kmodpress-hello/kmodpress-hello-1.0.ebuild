# Copyright 2024-2026 kmodpress authors
# Distributed under the terms of the GNU General Public License v2

# The kmodpress example module as a Gentoo package: Gentoo's linux-mod-r1 builds and installs it, kmodpress.eclass
# checks it against the system it merges into (pkg_preinst) and runs depmod + the checks after merging (pkg_postinst).
# Use from an overlay that also holds eclass/kmodpress.eclass (a copy of eclass-shim/kmodpress.eclass); copy this
# directory with `cp -rL` so that files/ holds the sources, not links to them. See docs/integrations.md (Gentoo).

EAPI=8

inherit kmodpress

DESCRIPTION="kmodpress example out-of-tree kernel module (exports a symbol, takes a parameter)"
HOMEPAGE="https://github.com/kmodpress/kmodpress"
S=${WORKDIR}/${P}

LICENSE="GPL-2"
SLOT="0"
KEYWORDS="~amd64"

src_unpack() {
	mkdir -p "${S}" || die
	cp "${FILESDIR}"/{kmodpress_hello.c,Kbuild,Makefile} "${S}"/ || die
}

src_compile() {
	# linux-mod-r1 runs `emake MODULES_MAKEARGS... all` in ${S}: the Makefile's KDIR/KVER default to the running
	# kernel's /lib/modules/$(uname -r)/build, so point them at the kernel linux-info found (KV_OUT_DIR: Debian's
	# linux-headers-KV-amd64, Gentoo's /usr/src/linux or KBUILD_OUTPUT)
	local modlist=( kmodpress_hello=extra:::all )
	local modargs=( KDIR="${KV_OUT_DIR}" KVER="${KV_FULL}" )
	linux-mod-r1_src_compile
}
