#!/usr/bin/env bash
# Test fixture: examples/kmodpress-hello built against Debian's 6.12.115 headers, plain and signed with a test key
# (the build dir's own scripts/sign-file), cached in $KMODPRESS_CACHE/example/<hash of the sources>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
KV=6.12.115+deb12-amd64
BUILD=/lib/modules/$KV/build
CACHE=${KMODPRESS_CACHE:-/var/cache/kmodpress-test}
hash=$(cat examples/kmodpress-hello/*.c examples/kmodpress-hello/Kbuild test/helpers/build-example.sh | sha256sum | cut -c1-12)
out=$CACHE/example/$hash
if [ -f "$out/done" ]; then
	ln -sfn "$hash" "$CACHE/example/current"
	exit 0
fi
rm -rf "$out"
mkdir -p "$out/src"
cp examples/kmodpress-hello/kmodpress_hello.c examples/kmodpress-hello/Kbuild "$out/src/"
make -s -C "$BUILD" M="$out/src" modules >/dev/null
cp "$out/src/kmodpress_hello.ko" "$out/kmodpress_hello.ko"
# A signing key the Debian kernel does not hold (good enough to test that signatures survive compression).
openssl req -new -nodes -utf8 -sha256 -days 36500 -batch -x509 -subj "/CN=kmodpress test key/" \
	-outform PEM -out "$out/signing_key.pem" -keyout "$out/signing_key.pem" >/dev/null 2>&1
openssl x509 -in "$out/signing_key.pem" -outform DER -out "$out/signing_key.x509"
cp "$out/kmodpress_hello.ko" "$out/kmodpress_hello.signed.ko"
"$BUILD/scripts/sign-file" sha256 "$out/signing_key.pem" "$out/signing_key.x509" "$out/kmodpress_hello.signed.ko"
touch "$out/done"
ln -sfn "$hash" "$CACHE/example/current"
echo "built $out"
