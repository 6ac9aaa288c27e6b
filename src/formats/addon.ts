// The native addons kmodpress loads (all Node-API): its own build/xz-{decode,encode}.node (scripts/build-native.mjs),
// lzma-native and zstd-napi. They are compiled for the Node that ran `npm ci` / scripts/setup.sh; another Node runs
// them only when it has every Node-API function they were compiled against. Node does not check that before calling
// the addon: an addon compiled for a newer Node-API than this Node's crashes the process (measured: native/xz-encode.c
// built with -DNAPI_VERSION=10 dies with SIGSEGV in require() under Node 20.20.2 and 18.20.4, both Node-API 9).
// So the version each addon was built for is checked before anything loads it (checkNativeAddons), and every load goes
// through loadAddon, so a failure (another architecture or libc, a missing liblzma, a half-written file) is one
// E_NATIVE_ADDON line with the fix, not a crash or an internal error.
//
// Where the version comes from: node-gyp writes the Node-API version of the Node that built a package into its
// build/config.gypi ("napi_build_version"), and a package whose binding.gyp defines NAPI_VERSION=<(napi_build_version)
// (zstd-napi) is compiled for exactly that version. Packages that do not (lzma-native) and kmodpress's own addons
// (built with -DNAPI_VERSION=8) need only Node-API 8: Node >= 12.22.
import {existsSync, readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {KmodpressError} from '../errors.js';

const require = createRequire(import.meta.url);

/** The npm packages with native addons kmodpress loads. */
const PACKAGES = ['lzma-native', 'zstd-napi'] as const;

const FIX = 'rebuild the native addons with the Node that runs kmodpress: `npm rebuild && node scripts/build-native.mjs` in the kmodpress directory, or rerun scripts/setup.sh';

const thisNode = (): string => `Node ${process.version} (${process.execPath}; Node-API ${process.versions.napi}, ABI ${process.versions.modules})`;

/** The Node-API version a package's addon was compiled for, when its build pins one (see the top of this file). */
export function napiBuildVersion(packageDir: string): number | undefined {
	let gyp: string;
	try {
		gyp = readFileSync(join(packageDir, 'binding.gyp'), 'utf8');
	} catch {
		return undefined;
	}
	if (!/NAPI_VERSION=<\(napi_build_version\)/.test(gyp)) return undefined;
	try {
		const m = /"napi_build_version":\s*"(\d+)"/.exec(readFileSync(join(packageDir, 'build/config.gypi'), 'utf8'));
		return m ? Number(m[1]) : undefined;
	} catch {
		return undefined; // not built from source here: a prebuilt binary for the package's own napi_versions
	}
}

/**
 * Refuse to go on, with E_NATIVE_ADDON, when an installed addon was compiled for a newer Node-API than this Node has
 * (loading it would crash the process). Reads a few small files; loads nothing.
 */
export function checkNativeAddons(): void {
	const have = Number(process.versions.napi);
	for (const name of PACKAGES) {
		let dir: string;
		try {
			dir = dirname(require.resolve(`${name}/package.json`));
		} catch {
			continue; // not installed: loading it says so
		}
		const built = napiBuildVersion(dir);
		if (built !== undefined && built > have) {
			throw new KmodpressError('E_NATIVE_ADDON', `${name}'s addon was built for Node-API ${built}; this is ${thisNode()}, which would crash loading it`, {
				file: join(dir, 'build/config.gypi'), fix: FIX,
			});
		}
	}
}

/** `load()` (a require of a native addon), its failure turned into E_NATIVE_ADDON naming `file` and the fix. */
export function loadAddon<T>(what: string, file: string, load: () => T): T {
	try {
		return load();
	} catch (e) {
		const first = String((e as Error)?.message ?? e).split('\n')[0];
		throw new KmodpressError('E_NATIVE_ADDON', `${what} does not load into ${thisNode()}: ${first}`, {file, fix: FIX, cause: e});
	}
}

/** Where require would find `id`'s addon package, for messages (the package directory, else the id). */
export function addonPath(id: string): string {
	try {
		return dirname(require.resolve(`${id}/package.json`));
	} catch {
		return id;
	}
}

/** Our own addon build/<name>.node: undefined when it was not built (kmodpress goes the slower way), its exports when
 * it loads, E_NATIVE_ADDON when it is there and does not load (absent and broken are told apart). */
export function loadOwnAddon<T>(name: string, fromUrl: string): T | undefined {
	// src/formats/xz or dist/formats/xz → <package>/build
	const file = join(dirname(fileURLToPath(fromUrl)), '../../../build', `${name}.node`);
	if (!existsSync(file)) return undefined;
	return loadAddon(`kmodpress's ${name} addon`, file, () => createRequire(fromUrl)(file) as T);
}
