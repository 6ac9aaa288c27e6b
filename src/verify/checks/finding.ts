// Building a finding, and the words several checks share.
import type {Finding, FindingCode, Severity} from '../../types.js';

export const finding = (code: FindingCode, severity: Severity, message: string): Finding => ({code, severity, message});

/** The fix for a module built against other headers than the target's. */
export const rebuildFix = (release: string): string => `rebuild the module against ${release}'s headers (linux-headers-${release})`;

/** A CRC as the kernel prints it. */
export const hex8 = (n: number): string => n.toString(16).padStart(8, '0');
