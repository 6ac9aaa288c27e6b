#!/usr/bin/env node
// The kmodpress executable (package.json "bin": dist/cli.js): run the command line and set the exit code.
// Everything else lives in cli/main.ts, so tests and the library can call main() without running anything.
import {main} from './cli/main.js';
import {EXIT} from './errors.js';

main(process.argv.slice(2)).then((code) => {
	process.exitCode = code;
}, (e: unknown) => {
	process.stderr.write(`kmodpress: internal error (please report): ${(e as Error)?.stack ?? String(e)}\n`);
	process.exitCode = EXIT.INTERNAL;
});
