#!/usr/bin/env bash
# Test fixture: Debian trixie's xz (xz-utils and liblzma5 5.8.x, whose xz defaults to multi-threaded mode), unpacked
# with dpkg-deb -x into $KMODPRESS_CACHE/xz-trixie (usr/bin/xz, usr/lib/x86_64-linux-gnu/liblzma.so.5). Fetched with
# apt-get through a private sources list and state directory: the system's apt configuration is not touched.
# Tests run it as LD_LIBRARY_PATH=<dir>/usr/lib/x86_64-linux-gnu <dir>/usr/bin/xz, or put it in a sysroot.
set -euo pipefail
CACHE=${KMODPRESS_CACHE:-/var/cache/kmodpress-test}
out=$CACHE/xz-trixie
[ -f "$out/done" ] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
cat > "$work/trixie.sources" <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
apt=(-q -o "Dir::Etc::SourceList=$work/trixie.sources" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$work/lists"
	-o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root)
apt-get "${apt[@]}" update >/dev/null
(cd "$work/debs" && apt-get "${apt[@]}" download xz-utils liblzma5 >/dev/null)
rm -rf "$out"
mkdir -p "$out"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$out"; done
version=$(LD_LIBRARY_PATH="$out/usr/lib/x86_64-linux-gnu" "$out/usr/bin/xz" --version | head -1)
case "$version" in
	"xz (XZ Utils) 5."[6-9]*) ;;
	*) echo "fetch-xz-trixie: expected xz >= 5.6 from trixie, got: $version" >&2; exit 1 ;;
esac
ls "$work"/debs > "$out/done"
echo "fetched $version into $out"
