// The floor plan of src/ (CONTRIBUTING.md "Layout"), checked by dependency-cruiser with .dependency-cruiser.json:
// no import cycle, no import from a lower stage to a higher one, one room per compression format, nothing imports the
// library's entry. CI runs this file with every other test, so a violation fails CI.
import {spawnSync} from 'node:child_process';
import {cpSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'uvu';
import * as assert from 'uvu/assert';

const REPO = join(import.meta.dirname, '../..');
const CRUISER = join(REPO, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

function cruise(dir: string): {status: number | null; out: string} {
	const r = spawnSync(process.execPath, [CRUISER, '--config', join(REPO, '.dependency-cruiser.json'), '--output-type', 'err', 'src'], {cwd: dir, encoding: 'utf8', env: {...process.env, FORCE_COLOR: '0', NO_COLOR: '1'}});
	return {status: r.status, out: `${r.stdout}${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, '')};
}

test('layout: src/ keeps its layers (dependency-cruiser)', () => {
	const r = cruise(REPO);
	assert.is(r.status, 0, r.out);
	assert.match(r.out, /no dependency violations found/);
});

// The rules can fail: a copy of src/ with one upward import (formats → install), one cycle and one format room
// importing another is refused with each rule's name.
test('layout: an upward import, a cycle and a cross-format import are each refused', () => {
	const dir = mkdtempSync(join(tmpdir(), 'kmodpress-layout-'));
	try {
		cpSync(join(REPO, 'src'), join(dir, 'src'), {recursive: true});
		cpSync(join(REPO, 'tsconfig.json'), join(dir, 'tsconfig.json'));
		writeFileSync(join(dir, 'src/formats/up.ts'), "import {compressModules} from '../install/compress.js';\nexport const x = compressModules;\n");
		writeFileSync(join(dir, 'src/formats/a.ts'), "import {b} from './b.js';\nexport const a = (): number => b();\nexport const up = (): unknown => import('./up.js');\n");
		writeFileSync(join(dir, 'src/formats/b.ts'), "import {a} from './a.js';\nexport const b = (): number => a();\n");
		writeFileSync(join(dir, 'src/formats/xz/cross.ts'), "import {zstdNapi} from '../zstd/napi.js';\nexport const y = zstdNapi;\n");
		writeFileSync(join(dir, 'src/elf/use.ts'), "export {a} from '../formats/a.js';\nexport {y} from '../formats/xz/cross.js';\n");
		const r = cruise(dir);
		assert.is.not(r.status, 0, r.out);
		for (const rule of ['layer-formats', 'no-circular', 'one-room-per-format', 'layer-elf']) assert.match(r.out, new RegExp(`error ${rule}`), `${rule} not reported:\n${r.out}`);
	} finally {
		rmSync(dir, {recursive: true, force: true});
	}
});

test.run();
