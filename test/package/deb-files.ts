// What the Debian package installs, read from debian/ alone (no build needed): debian/kmodpress.install (source →
// destination; `debian/runtime/X` is what debian/stage-runtime.sh copies from the repository's X, dist/ being
// src/*.ts compiled), debian/kmodpress.links and debian/kmodpress.manpages. test/package/deb.test.ts checks this list
// against the contents of the .deb that was really built.
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs';
import {basename, join, relative} from 'node:path';

export const REPO = join(import.meta.dirname, '../..');

export interface PackageFiles {
	/** every installed file and symlink (absolute paths) */
	files: Set<string>;
	/** directories whose whole contents are installed without being listed here (node_modules) */
	opaque: string[];
	/** symlink → its target (absolute) */
	links: Map<string, string>;
	/** install sources that do not exist in the repository */
	missingSources: string[];
}

function walk(dir: string): string[] {
	const out: string[] = [];
	for (const name of readdirSync(dir).sort()) {
		const p = join(dir, name);
		if (statSync(p).isDirectory()) out.push(...walk(p));
		else out.push(p);
	}
	return out;
}

/** The repository files that debian/runtime/X is staged from, as paths relative to X's destination. */
function runtimeEntries(x: string, repo: string): string[] | 'opaque' | undefined {
	if (x === 'node_modules') return 'opaque';
	if (x === 'dist') {
		return walk(join(repo, 'src')).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
			.map((f) => join('dist', relative(join(repo, 'src'), f)).replace(/\.ts$/, '.js'));
	}
	if (x === 'build') {
		return readdirSync(join(repo, 'native')).filter((n) => /^xz-.*\.c$/.test(n)).map((n) => `build/${n.replace(/\.c$/, '.node')}`);
	}
	if (x === 'native') return ['native/loader.c'];
	const p = join(repo, x);
	if (!existsSync(p)) return undefined;
	return statSync(p).isDirectory() ? walk(p).map((f) => relative(repo, f)) : [x];
}

export function packageFiles(repo = REPO): PackageFiles {
	const files = new Set<string>();
	const opaque: string[] = [];
	const links = new Map<string, string>();
	const missingSources: string[] = [];
	const lines = (name: string) => readFileSync(join(repo, 'debian', name), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
	for (const line of lines('kmodpress.install')) {
		const [src, dest] = line.split(/\s+/);
		if (!src || !dest) throw new Error(`debian/kmodpress.install: "${line}" is not "SOURCE DESTINATION"`);
		const destDir = `/${dest.replace(/^\/|\/$/g, '')}`;
		const runtime = /^debian\/runtime\/(.+)$/.exec(src);
		if (runtime?.[1]) {
			const entries = runtimeEntries(runtime[1], repo);
			if (entries === undefined) missingSources.push(src);
			else if (entries === 'opaque') opaque.push(`${destDir}/${runtime[1]}/`);
			else for (const e of entries) files.add(`${destDir}/${e}`);
			continue;
		}
		if (!existsSync(join(repo, src))) {
			missingSources.push(src);
			continue;
		}
		if (statSync(join(repo, src)).isDirectory()) {
			for (const f of walk(join(repo, src))) files.add(`${destDir}/${basename(src)}/${relative(join(repo, src), f)}`);
		} else {
			files.add(`${destDir}/${basename(src)}`);
		}
	}
	for (const line of lines('kmodpress.links')) {
		const [target, link] = line.split(/\s+/);
		if (!target || !link) throw new Error(`debian/kmodpress.links: "${line}" is not "TARGET LINK"`);
		files.add(`/${link}`);
		links.set(`/${link}`, `/${target}`);
	}
	for (const page of lines('kmodpress.manpages')) {
		if (!existsSync(join(repo, page))) missingSources.push(page);
		const section = /\.(\d)$/.exec(page)?.[1] ?? '1';
		files.add(`/usr/share/man/man${section}/${basename(page)}.gz`);
	}
	return {files, opaque, links, missingSources};
}

/** Whether PATH is installed: a file or link, a directory holding one, or inside an opaque directory. */
export function isInstalled(pkg: PackageFiles, path: string): boolean {
	const p = path.replace(/\/+$/, '');
	if (pkg.files.has(p)) return true;
	if (pkg.opaque.some((o) => `${p}/`.startsWith(o))) return true;
	for (const f of pkg.files) if (f.startsWith(`${p}/`)) return true;
	return false;
}

/**
 * The absolute paths under /usr, /etc, /lib, /var, /run that name kmodpress, in TEXT (man page escapes undone;
 * `{a,b}` alternatives expanded, trailing punctuation cut off).
 */
export function kmodpressPaths(text: string): string[] {
	const plain = text.replaceAll('\\-', '-').replaceAll('\\&', '');
	const out = new Set<string>();
	const seg = String.raw`(?:[A-Za-z0-9_.+\-/]|\{[A-Za-z0-9_.+\-,]*\})`;
	const re = new RegExp(String.raw`(?<![\w$}])/(?:usr|etc|lib|var|run)/${seg}*kmodpress${seg}*`, 'g');
	for (const m of plain.matchAll(re)) {
		// shell brace alternatives: config.{json,yaml} → config.json, config.yaml
		let paths = [m[0]];
		for (let brace = /\{([^}]*)\}/; paths.some((p) => brace.test(p));) {
			paths = paths.flatMap((p) => {
				const b = brace.exec(p);
				return b ? (b[1] ?? '').split(',').map((alt) => p.slice(0, b.index) + alt + p.slice(b.index + b[0].length)) : [p];
			});
		}
		for (const p of paths) out.add(p.replace(/[.,;:]+$/, ''));
	}
	return [...out].sort();
}
