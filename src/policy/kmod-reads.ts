// Step 6 of decidePolicy: the kmod that will read the modules must read the chosen suffix. depmod silently leaves
// out a suffix its kmod was built without (kmod's shared/util.c: kmod_exts[] lists .ko.gz/.ko.xz/.ko.zst only with
// ENABLE_ZLIB/XZ/ZSTD), so such a policy is refused before anything is touched — or only warned about when the kmod
// asked is not the one that will read them, or when nothing is written (verify).
import {KmodpressError} from '../errors.js';
import {kmodReads} from '../target/kmod.js';
import type {Algorithm, Sourced} from '../types.js';
import {KMOD_FEATURE, SUFFIX} from '../formats/table.js';
import type {PolicyInputs, Remarks} from './types.js';

export function kmodReadsOrRefuse(inputs: PolicyInputs, algorithm: Sourced<Algorithm>, remarks: Remarks): boolean | undefined {
	const {kmod} = inputs;
	const reads = kmodReads(kmod, algorithm.value);
	const feature = KMOD_FEATURE[algorithm.value];
	const suffix = SUFFIX[algorithm.value];
	if (reads === false && (inputs.kmodIsTargets === false || inputs.noRefusal)) {
		remarks.warnings.push(`${kmod.from}: the host's kmod ${kmod.version ?? '?'} cannot read *.ko${suffix} (-${feature}); ${inputs.noRefusal ? 'modprobe on this system could only load such files through the kernel' : `the modules are for the system under the given root, whose own kmod must have ${feature}`}`);
	} else if (reads === false) {
		throw new KmodpressError('E_POLICY_KMOD_CANNOT_READ',
			`${kmod.from}: kmod ${kmod.version ?? '?'} was built without ${feature} (-${feature}), so depmod would silently leave every *.ko${suffix} out of modules.dep and modprobe could not load it (${algorithm.from})`,
			{fix: `rebuild kmod with ${algorithm.value} support, or configure kernel ${inputs.release} with another CONFIG_MODULE_COMPRESS_<ALG>, or pass --compress none`});
	}
	if (reads === undefined) remarks.warnings.push(`${kmod.from}: cannot tell whether kmod reads ${algorithm.value} modules`);
	return reads;
}
