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
libnode=$(dpkg-query -W -f='${binary:Package}\n' 'libnode[0-9]*' 2>/dev/null | sed 's/:.*//' | grep -E '^libnode[0-9]+$' | head -n 1 || true)
[ -n "$libnode" ] && deps="$deps, $libnode"
printf '%s\n' "$deps"
