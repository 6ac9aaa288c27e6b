// 6.14+ extended modversions (__version_ext_crcs + __version_ext_names, kernel/module/{main,version}.c) on the real
// example module built against Debian's 6.12.115 headers, rewritten with objcopy: a 6.12 kernel ignores those
// sections, a 6.14+ kernel validates them (elf_validity_cache_index_versions) and, when present, takes every CRC from
// them (check_version), while same_magic() still looks at __versions only. The same bytes are checked against
// Debian's 6.12 context and against that context with the kernel's version moved to 6.14 — the one thing that differs.
import {execFileSync} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {ElfFile} from '../../src/elf/reader.js';
import {discoverKernel, readKernelFiles} from '../../src/target/discover.js';
import {detectKmod} from '../../src/target/kmod.js';
import {policyFromFiles} from '../../src/policy/index.js';
import {loadVerifyContext} from '../../src/verify/context.js';
import type {VerifyContext} from '../../src/verify/checks/context-types.js';
import {analyzeImage} from '../../src/verify/checks/facts.js';
import {checkModule} from '../../src/verify/index.js';
import {DEBIAN_BUILD, DEBIAN_KV} from '../helpers/paths.js';
import {exampleModule} from '../helpers/tree.js';

const work = mkdtempSync(join(tmpdir(), 'kmodpress-extver-'));
const target = discoverKernel({kernel: DEBIAN_KV, root: '/', buildDir: DEBIAN_BUILD});
const files = readKernelFiles(target);
const policy = policyFromFiles(target, files, await detectKmod(), {});
const ctx612 = loadVerifyContext({target, policy, config: files.config});
const ctx614: VerifyContext = {...ctx612, extendedModversions: true};

/** __versions of a module: [name, crc] in order. */
function versionsOf(image: Buffer): [string, number][] {
	const elf = new ElfFile(image, 'm');
	const s = elf.section('__versions')!;
	const out: [string, number][] = [];
	for (let o = s.offset; o + 64 <= s.offset + s.size; o += 64) out.push([image.toString('latin1', o + 8, image.indexOf(0, o + 8)), image.readUInt32LE(o)]);
	return out;
}

/** objcopy the example: add extended sections (allocated, as modpost emits them), optionally drop __versions. */
function withExt(image: Buffer, opts: {crcs?: Buffer; names?: Buffer; dropVersions?: boolean; flipVersion?: string}): Buffer {
	const n = `${work}/${Math.random().toString(16).slice(2)}`;
	let input = image;
	if (opts.flipVersion) {
		input = Buffer.from(image);
		const s = new ElfFile(input, 'm').section('__versions')!;
		for (let o = s.offset; o + 64 <= s.offset + s.size; o += 64) {
			if (input.toString('latin1', o + 8, input.indexOf(0, o + 8)) === opts.flipVersion) input.writeUInt32LE((input.readUInt32LE(o) ^ 0x5a5a5a5a) >>> 0, o);
		}
	}
	writeFileSync(`${n}.in.ko`, input);
	const args: string[] = [];
	for (const [sec, data] of [['__version_ext_crcs', opts.crcs], ['__version_ext_names', opts.names]] as const) {
		if (!data) continue;
		writeFileSync(`${n}${sec}`, data);
		args.push('--add-section', `${sec}=${n}${sec}`, '--set-section-flags', `${sec}=alloc,readonly,data`);
	}
	// renamed, not removed (a section symbol refers to it): the kernel finds sections by name
	if (opts.dropVersions) args.push('--rename-section', '__versions=.note.kmodpress_old_versions');
	execFileSync('/usr/bin/objcopy', [...args, `${n}.in.ko`, `${n}.out.ko`]);
	return readFileSync(`${n}.out.ko`);
}

function extOf(entries: [string, number][]): {crcs: Buffer; names: Buffer} {
	const crcs = Buffer.alloc(entries.length * 4);
	entries.forEach(([, c], i) => crcs.writeUInt32LE(c >>> 0, i * 4));
	return {crcs, names: Buffer.from(entries.map(([name]) => `${name}\0`).join(''), 'latin1')};
}

function check(image: Buffer, ctx: VerifyContext): {loadable: boolean; errors: string[]; codes: string[]} {
	const facts = analyzeImage(image, '/x/kmodpress_hello.ko');
	const l = {path: '/x/kmodpress_hello.ko', module: 'kmodpress_hello', algorithm: null, facts, findings: []};
	const v = checkModule(l, ctx, ctx.symvers!.exports, new Map([[l.module, l]]));
	return {loadable: v.loadable, errors: v.findings.filter((f) => f.severity === 'error').map((f) => f.code), codes: v.findings.map((f) => f.code)};
}

const plain = exampleModule();
const versions = versionsOf(plain);
const someSymbol = versions.find(([n]) => n !== 'module_layout')![0];

test('the example as built: __versions only; loadable on 6.12 and on 6.14', () => {
	assert.ok(versions.length > 1, `${versions.length} __versions entries`);
	assert.is(check(plain, ctx612).loadable, true);
	assert.is(check(plain, ctx614).loadable, true);
});

test('extended sections only (no __versions): 6.14 checks CRCs from them; 6.12 does not know them (no versions: force-loaded unchecked)', () => {
	const m = withExt(plain, {...extOf(versions), dropVersions: true});
	assert.is(check(m, ctx614).loadable, true, JSON.stringify(check(m, ctx614).errors));
	// Debian's 6.12 has MODULE_FORCE_LOAD: without __versions it loads the module unchecked and taints itself
	assert.ok(ctx612.forceLoad);
	assert.ok(check(m, ctx612).codes.includes('NO_VERSIONS'), JSON.stringify(check(m, ctx612).codes));
	assert.not.ok(check(m, ctx614).codes.includes('NO_VERSIONS'));
	assert.not.ok(check(m, ctx612).codes.includes('CRC_MISMATCH'));
	// one wrong CRC in the extended table
	const bad = withExt(plain, {...extOf(versions.map(([n, c]) => [n, n === someSymbol ? c ^ 1 : c] as [string, number])), dropVersions: true});
	assert.equal(check(bad, ctx614).errors, ['CRC_MISMATCH']);
});

test('both tables: 6.14 takes the extended one, 6.12 __versions', () => {
	// __versions wrong, extended right: 6.14 loads, 6.12 refuses
	const m = withExt(plain, {...extOf(versions), flipVersion: someSymbol});
	assert.is(check(m, ctx614).loadable, true);
	assert.equal(check(m, ctx612).errors, ['CRC_MISMATCH']);
	// a symbol missing from the extended table: "no extended symbol version" — a warning, it loads
	const partial = withExt(plain, extOf(versions.filter(([n]) => n !== someSymbol)));
	const r = check(partial, ctx614);
	assert.is(r.loadable, true);
});

test('damaged extended sections: ENOEXEC on 6.14, ignored on 6.12', () => {
	const {crcs, names} = extOf(versions);
	const onlyCrcs = withExt(plain, {crcs});
	assert.equal(check(onlyCrcs, ctx614).errors, ['ELF_VERSION_EXT']);
	assert.is(check(onlyCrcs, ctx612).loadable, true);
	// more CRCs than names
	const short = withExt(plain, {crcs, names: names.subarray(0, names.indexOf(0) + 1)});
	assert.equal(check(short, ctx614).errors, ['ELF_VERSION_EXT']);
	assert.is(check(short, ctx612).loadable, true);
});

test.after(() => rmSync(work, {recursive: true, force: true}));
test.run();
