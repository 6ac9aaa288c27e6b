// What the kernel's in-tree modules use: the last resort when nothing else describes the kernel, a source of an
// algorithm for --compress force, and the cross-check of the decision (step 7 of decidePolicy).
import type {Algorithm} from '../types.js';
import {ALGORITHMS, SUFFIX} from '../formats/table.js';
import type {InTree, Remarks} from './types.js';

/** The algorithm most in-tree modules use, when they outnumber the uncompressed ones; else null. */
export function majorityAlgorithm(counts: Record<string, number>): Algorithm | null {
	let best: Algorithm | null = null;
	let n = 0;
	for (const alg of ALGORITHMS) {
		const c = counts[`.ko${SUFFIX[alg]}`] ?? 0;
		if (c > n) {
			best = alg;
			n = c;
		}
	}
	return n > (counts['.ko'] ?? 0) ? best : null;
}

/** "4230 *.ko.xz, 2 *.ko" */
export function describeCounts(counts: Record<string, number>): string {
	const parts = Object.entries(counts).filter(([, n]) => n > 0).map(([s, n]) => `${n} *${s}`);
	return parts.length ? parts.join(', ') : 'none';
}

/** Warn when the in-tree modules use something else than what kmodpress will write, and note what they use. */
export function compareWithInTree(inTree: InTree | undefined, compressWith: Algorithm | null, remarks: Remarks): void {
	if (!inTree) return;
	if (compressWith) {
		const major = majorityAlgorithm(inTree.counts);
		const plain = inTree.counts['.ko'] ?? 0;
		if (major !== compressWith && (major !== null || plain > 0)) {
			remarks.warnings.push(`the in-tree modules (${inTree.from}) are ${describeCounts(inTree.counts)}, not *.ko${SUFFIX[compressWith]}`);
		}
	}
	remarks.notes.push(`in-tree modules: ${describeCounts(inTree.counts)} (${inTree.from})`);
}
