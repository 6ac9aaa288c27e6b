// Where the test setup (scripts/setup.sh --test) puts what it builds and what Debian installs.
import {existsSync} from 'node:fs';
import {join} from 'node:path';

export const DEBIAN_KV = '6.12.115+deb12-amd64';
export const DEBIAN_MODDIR = `/lib/modules/${DEBIAN_KV}`;
export const DEBIAN_BUILD = `${DEBIAN_MODDIR}/build`;
export const CACHE = process.env.KMODPRESS_CACHE ?? '/var/cache/kmodpress-test';

/** A path under the cache that the setup must have built: throws (so the test fails, never skips) when missing. */
export function cached(...parts: string[]): string {
	const p = join(CACHE, ...parts);
	if (!existsSync(p)) throw new Error(`${p} is missing: run \`bash scripts/setup.sh --test\` first`);
	return p;
}
