#!/usr/bin/env bash
# The main job on the shipped example, the way DKMS or an ebuild would do it: build the out-of-tree module against
# the target kernel's headers, install it into that kernel's module tree, then let kmodpress compress it as the
# kernel's own modules_install would, run depmod, and verify it — by prediction and by booting that kernel in QEMU.
# A second run shows that nothing changes.
set -euo pipefail
cd "$(dirname "$0")/.."
KV=${KV:-6.12.115+deb12-amd64}
src=examples/kmodpress-hello
dest=/lib/modules/$KV/extra

echo "== build $src against /lib/modules/$KV/build"
make -s -C "$src" KVER="$KV" >/dev/null
echo "== install $dest/kmodpress_hello.ko (as DKMS or modules_install would, before compression)"
install -D -m 0644 "$src/kmodpress_hello.ko" "$dest/kmodpress_hello.ko"
make -s -C "$src" KVER="$KV" clean >/dev/null

echo "== kmodpress explain --kernel $KV"
node dist/cli.js explain --kernel "$KV"
echo
echo "== kmodpress compress --kernel $KV $dest"
node dist/cli.js compress --kernel "$KV" "$dest"
echo
echo "== again: a second run changes nothing"
node dist/cli.js compress --kernel "$KV" "$dest"
echo
echo "== kmodpress verify --kernel $KV --boot $dest (predict, then ask the kernel itself: boots it under QEMU)"
node dist/cli.js verify --kernel "$KV" --boot "$dest"
echo
echo "== modules.dep and modinfo"
grep kmodpress_hello "/lib/modules/$KV/modules.dep"
modinfo -k "$KV" kmodpress_hello | grep -E '^(filename|vermagic|name)'
