import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {KmodpressError, isKmodpressError, exitCodeFor} from '../src/errors.js';

test('KmodpressError carries code, file and fix in one line', () => {
	const e = new KmodpressError('E_ELF_NOT_ELF', 'not an ELF file', {file: 'extra/foo.ko', fix: 'rebuild the module'});
	assert.ok(isKmodpressError(e));
	assert.is(e.line, 'E_ELF_NOT_ELF: extra/foo.ko: not an ELF file Fix: rebuild the module');
	assert.is(exitCodeFor(e), 1);
	assert.is(exitCodeFor(new KmodpressError('E_USAGE', 'bad flag')), 2);
	assert.is(exitCodeFor(new Error('boom')), 70);
});

test.run();
