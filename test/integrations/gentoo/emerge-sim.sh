#!/bin/bash
# Runs an ebuild's phases roughly as portage does, for tests: phase set 1 (pkg_setup, src_unpack, src_compile,
# src_install + bashrc's post_src_install) in one bash, its variables saved like portage's environment file, the
# image "merged" into EROOT, then pkg_postinst (+ post_pkg_postinst) in a second bash with that environment restored.
# Inputs (environment): EBUILD, ECLASSDIR, FILESDIR, WORK (empty temp dir), EROOT, USE, KV_FULL, KV_OUT_DIR,
# KMODPRESS_TEST_PREBUILT, optional BASHRC (a file sourced like /etc/portage/bashrc), optional PHASES=install|all.
set -u
BASHRC=${BASHRC:-}
here=$(dirname -- "$(readlink -f -- "$0")")
export D=${WORK}/image/ ED=${WORK}/image/ T=${WORK}/temp WORKDIR=${WORK}/work ROOT=${EROOT} EPREFIX=
export CATEGORY=sys-kernel PF=$(basename "${EBUILD}" .ebuild)
mkdir -p "${D}" "${T}" "${WORKDIR}"

common() {
	cat <<EOS
source "${here}/portage-env.sh"
source "${EBUILD}" || exit 1
${BASHRC:+source "${BASHRC}"}
S=\${S:-\${WORKDIR}/\${PF}}
EOS
}

phase1() {
	common
	cat <<'EOS'
run_phase() { EBUILD_PHASE=$1; if declare -F "$1" >/dev/null; then echo ">>> $1"; "$1" || die "$1 returned $?"; fi; }
run_phase pkg_setup
mkdir -p "${S}"
run_phase src_unpack
cd "${S}" || die
run_phase src_compile
run_phase src_install
run_phase post_src_install
# portage keeps the ebuild's variables for the later phases (environment.bz2)
declare -p KMODPRESS_FILES _FAKE_MODLIST 2>/dev/null >"${T}/environment"
EOS
}

phase2() {
	common
	cat <<'EOS'
source "${T}/environment"
run_phase() { EBUILD_PHASE=$1; if declare -F "$1" >/dev/null; then echo ">>> $1"; "$1" || die "$1 returned $?"; fi; }
run_phase pkg_postinst
run_phase post_pkg_postinst
EOS
}

bash -c "$(phase1)" || exit $?
[[ ${PHASES:-all} == install ]] && exit 0
echo ">>> merging ${D} to ${EROOT}"
cp -a "${D}." "${EROOT%/}/" || exit 1
bash -c "$(phase2)"
