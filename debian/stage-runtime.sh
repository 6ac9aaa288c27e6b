#!/bin/sh
# Stages what kmodpress needs at run time into DIR (installed as /usr/lib/kmodpress): package.json, dist/ (without
# type declarations), the built addons build/*.node, hooks/, native/loader.c (verify --boot builds the lab's loader
# from it), and node_modules with only the runtime dependencies, each native one reduced to its compiled addon.
set -eu
dir=$1
rm -rf "$dir"
mkdir -p "$dir/build" "$dir/native"
cp -a package.json package-lock.json dist hooks "$dir/"
find "$dir/dist" \( -name '*.d.ts' -o -name '*.map' \) -delete
cp -a build/*.node "$dir/build/"
cp -a native/loader.c "$dir/native/"
cp -a node_modules "$dir/"
# Only the runtime dependencies: every package package-lock.json marks "dev" (needed only to build and test) goes.
node -e '
const {readFileSync, rmSync} = require("node:fs");
const {join} = require("node:path");
const [dir] = process.argv.slice(1);
const lock = JSON.parse(readFileSync(join(dir, "package-lock.json"), "utf8"));
let n = 0;
for (const [path, meta] of Object.entries(lock.packages ?? {})) {
	if (path.startsWith("node_modules/") && meta.dev === true) { rmSync(join(dir, path), {recursive: true, force: true}); n++; }
}
console.error(`stage-runtime: removed ${n} development packages`);
' "$(readlink -f "$dir")"
for dev in typescript tsx uvu dependency-cruiser; do
	[ ! -e "$dir/node_modules/$dev" ] || { echo "stage-runtime: the development package $dev is still there" >&2; exit 1; }
done
rm -f "$dir/package-lock.json" "$dir/node_modules/.package-lock.json" "$dir/node_modules/.kmodpress-lock.sha256"
rm -rf "$dir/node_modules/.bin"
# Native modules: keep the compiled addon, drop sources, object files, other platforms' prebuilds.
for m in lzma-native zstd-napi; do
	d=$dir/node_modules/$m
	[ -d "$d" ] || continue
	node_files=$(find "$d/build" -name '*.node' -path '*/Release/*' 2>/dev/null || true)
	[ -n "$node_files" ] || { echo "stage-runtime: no compiled addon under $d/build/Release" >&2; exit 1; }
	tmp=$(mktemp -d)
	for f in $node_files; do cp -a "$f" "$tmp/"; done
	rm -rf "$d/build" "$d/deps" "$d/prebuilds" "$d/src" "$d/binding.gyp" "$d/liblzma-config.sh" "$d/liblzma-build.sh" "$d/cflags.sh"
	mkdir -p "$d/build/Release"
	cp -a "$tmp"/*.node "$d/build/Release/"
	rm -rf "$tmp"
done
# Documentation and tests of the dependencies are not needed to run them.
find "$dir/node_modules" -depth \( -name '*.md' ! -iname 'license*' -o -name '*.ts' ! -name '*.d.ts' -o -name test -type d -o -name tests -type d \) -exec rm -rf {} + 2>/dev/null || true
find "$dir/node_modules" -name '*.d.ts' -delete
# the packages' own development files (lint configuration, npm and CI dotfiles)
find "$dir/node_modules" -name '.*' -type f -delete
find "$dir/node_modules" -type d -empty -delete
# every addon must load into this nodejs
for f in "$dir"/build/*.node $(find "$dir/node_modules" -name '*.node'); do
	node -e 'require(require("node:path").resolve(process.argv[1]))' "$f" || { echo "stage-runtime: $f does not load into $(node --version)" >&2; exit 1; }
done
