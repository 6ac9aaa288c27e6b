// lzma-native (liblzma through Node-API), loaded through loadAddon: an addon this Node cannot load is one
// E_NATIVE_ADDON line (src/formats/addon.ts), not a crash at import time.
import {createRequire} from 'node:module';
import type Lzma from 'lzma-native';
import {addonPath, loadAddon} from '../addon.js';

const lzma: typeof Lzma = loadAddon('lzma-native', addonPath('lzma-native'), () => createRequire(import.meta.url)('lzma-native') as typeof Lzma);
export default lzma;
