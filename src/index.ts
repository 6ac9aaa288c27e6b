// kmodpress as a library: the same functions the CLI calls. The library never prints; pass a Log to hear it.
export {compressModules, type CompressOptions, type CompressReport, type ModuleResult} from './install/compress.js';
export {recompressKernel, findOutOfTreeModules, installedKernels} from './install/recompress.js';
export {verifyModules, type VerifyOptions, type VerifyReport, type ModuleVerdict} from './verify/index.js';
export {discoverKernel, readKernelFiles, type KernelTarget, type KernelFiles} from './target/discover.js';
export {detectKmod, parseKmodVersion, type KmodInfo} from './target/kmod.js';
export {detectXz, parseXzVersion, type XzTool} from './target/xz-tool.js';
export {decidePolicy, policyFromFiles, type Policy, type PolicyOverrides} from './policy/index.js';
export {decodeAsKernel, type KernelDecode} from './formats/kernel.js';
export {createCodecPool, type CodecPool} from './workers/pool.js';
export {KmodpressError, EXIT, isKmodpressError} from './errors.js';
export type {Algorithm, CompressionParams, Finding, FindingCode, Log, Severity, Sourced} from './types.js';
