// libzstd (the library libkmod/libkmod-file-zstd.c decodes with) through zstd-napi, loaded on first use: its native
// addon takes ~35 ms to load, which a job that never meets a zstd file (one xz module from a DKMS hook) should not pay.
import {createRequire} from 'node:module';
import {addonPath, loadAddon} from '../addon.js';

type ZstdNapi = typeof import('zstd-napi');
let loaded: ZstdNapi | undefined;

export function zstdNapi(): ZstdNapi {
	loaded ??= loadAddon('zstd-napi', addonPath('zstd-napi'), () => createRequire(import.meta.url)('zstd-napi') as ZstdNapi);
	return loaded;
}
