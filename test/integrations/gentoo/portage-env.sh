# A minimal portage-like ebuild environment for tests (sourced by emerge-sim.sh): the helpers the kmodpress eclass,
# the fake linux-mod-r1 and hooks/portage/bashrc call, with portage's semantics where they matter (die aborts the
# phase, use() dies on a flag outside IUSE, IUSE from eclasses is merged, EXPORT_FUNCTIONS defines phase wrappers).
EAPI=8
ebegin() { echo " * $*"; }
einfo() { echo " * $*"; }
ewarn() { echo " * WARNING: $*" >&2; }
eerror() { echo " * ERROR: $*" >&2; }
die() {
	echo " * ERROR: ${CATEGORY}/${PF} failed (${EBUILD_PHASE} phase): $*" >&2
	echo "DIED: $*" >>"${T}/die.log"
	exit 1
}
has() {
	local needle=$1 x
	shift
	for x in "$@"; do [[ ${x} == "${needle}" ]] && return 0; done
	return 1
}
in_iuse() {
	local f
	for f in ${IUSE} ${_ECLASS_IUSE}; do [[ ${f#[+-]} == "$1" ]] && return 0; done
	return 1
}
use() {
	local flag=$1 invert=0
	[[ ${flag} == '!'* ]] && invert=1 && flag=${flag#!}
	in_iuse "${flag}" || die "use: USE flag '${flag}' not in IUSE"
	if has "${flag}" ${USE}; then return ${invert}; fi
	return $((1 - invert))
}
inherit() {
	local e prev_eclass prev_iuse
	for e in "$@"; do
		has "${e}" ${INHERITED} && continue
		prev_eclass=${ECLASS}
		prev_iuse=${IUSE}
		IUSE=
		ECLASS=${e}
		source "${ECLASSDIR}/${e}.eclass" || die "inherit: cannot source ${e}.eclass"
		_ECLASS_IUSE+=" ${IUSE}"
		IUSE=${prev_iuse}
		ECLASS=${prev_eclass}
		INHERITED+=" ${e}"
	done
}
EXPORT_FUNCTIONS() {
	local f
	for f in "$@"; do
		eval "${f}() { ${ECLASS}_${f} \"\$@\"; }"
	done
}
