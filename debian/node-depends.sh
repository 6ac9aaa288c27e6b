#!/bin/sh
# The nodejs and libnodeNNN of the build system, as a Depends line: the native addons (build/*.node, lzma-native,
# zstd-napi) were compiled against this nodejs, so the package needs this nodejs's major version and its libnode
# (dh_shlibdeps also finds libnode for the addons that node-gyp linked against it).
set -eu
node_ver=$(dpkg-query -W -f='${Version}' nodejs)
major=$(node -p 'process.versions.node.split(".")[0]')
upstream=${node_ver#*:}
upstream=${upstream%%-*}
deps="nodejs (>= ${upstream%%~*}~), nodejs (<< $((major + 1)))"
# the libnode this nodejs runs on: its own Depends names it (libnode115 (= 20.19.2+dfsg-1) on trixie)
libnode=$(dpkg-query -W -f='${Depends}\n' nodejs | tr ',' '\n' | grep -oE '^ *libnode[0-9]+' | tr -d ' ' | head -n 1 || true)
[ -n "$libnode" ] && deps="$deps, $libnode"
printf '%s\n' "$deps"
