import { readFileSync } from 'node:fs';
import { invalidArgument } from '@berth/errors';

/**
 * Linux capabilities by number, as in <linux/capability.h> (capabilities(7)).
 * The index of a name is its capability number.
 */
const capabilityNames = [
  'CAP_CHOWN', // 0
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL', // 5
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE', // 10
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER', // 15
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', // 20
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME', // 25
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL', // 30
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM', // 35
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON', // Linux 5.8
  'CAP_BPF', // Linux 5.8
  'CAP_CHECKPOINT_RESTORE', // 40, Linux 5.9
] as const;

/** A capability name in its canonical form: upper case with the `CAP_` prefix. */
export type Capability = (typeof capabilityNames)[number];

const numbers: ReadonlyMap<string, number> = new Map(capabilityNames.map((n, i) => [n, i]));

/**
 * Docker's default set: what a container process gets unless told otherwise. Enough to
 * behave like root inside its own files (chown, setuid, bind low ports, chroot) and nothing
 * that reaches the host (no SYS_ADMIN, NET_ADMIN, SYS_MODULE, SYS_PTRACE …).
 */
export const defaultCapabilities: readonly Capability[] = Object.freeze([
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
] as const);

/**
 * Every capability the running kernel knows (and berth can name), in number order. The
 * kernel's last capability is read from /proc/sys/kernel/cap_last_cap unless `lastCap` is
 * given; without either, every capability berth knows is returned.
 */
export function allCapabilities(lastCap: number | undefined = readCapLastCap()): Capability[] {
  const last = lastCap === undefined ? capabilityNames.length - 1 : Math.min(lastCap, capabilityNames.length - 1);
  return capabilityNames.slice(0, last + 1);
}

function readCapLastCap(): number | undefined {
  try {
    const n = Number.parseInt(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim(), 10);
    return Number.isInteger(n) && n >= 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The canonical name of a capability given as `net_admin`, `NET_ADMIN` or `CAP_NET_ADMIN`.
 * Throws InvalidArgument naming the capability when the kernel has no such capability.
 */
export function normalizeCapability(name: string): Capability {
  const upper = name.trim().toUpperCase();
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!numbers.has(full)) {
    throw invalidArgument(`unknown capability "${name}": use a name from capabilities(7) such as NET_ADMIN or CAP_SYS_TIME, or ALL`, {
      detail: { capability: name },
    });
  }
  return full as Capability;
}

/** The kernel's number of a capability (`capNumber('CAP_SYS_ADMIN') === 21`); names as in {@link normalizeCapability}. */
export function capNumber(name: string): number {
  const n = numbers.get(normalizeCapability(name));
  if (n === undefined) throw invalidArgument(`unknown capability "${name}"`);
  return n;
}

/** The name of a capability number, or undefined when berth does not know it. */
export function capName(n: number): Capability | undefined {
  return capabilityNames[n];
}

const isAll = (s: string): boolean => {
  const u = s.trim().toUpperCase();
  return u === 'ALL' || u === 'CAP_ALL';
};

/**
 * `--cap-add` / `--cap-drop` as Docker applies them to a base set (usually
 * {@link defaultCapabilities}): `ALL` in `add` grants every capability except those
 * dropped; `ALL` in `drop` leaves only what is added; otherwise drops apply to the base
 * and adds come after, so a capability both added and dropped is kept. Names may be
 * given with or without `CAP_`, in any case. The result is deduplicated and in number order.
 */
export function applyCapChanges(base: readonly string[], add: readonly string[] = [], drop: readonly string[] = []): Capability[] {
  const adds = add.filter((c) => !isAll(c)).map(normalizeCapability);
  const drops = drop.filter((c) => !isAll(c)).map(normalizeCapability);
  const baseCaps = base.map(normalizeCapability);
  const dropSet = new Set(drops);
  let out: Capability[];
  if (add.some(isAll)) out = allCapabilities().filter((c) => !dropSet.has(c));
  else if (drop.some(isAll)) out = adds;
  else out = [...baseCaps.filter((c) => !dropSet.has(c)), ...adds];
  return [...new Set(out)].sort((a, b) => (numbers.get(a) ?? 0) - (numbers.get(b) ?? 0));
}

/** The OCI `process.capabilities` object for a set, as Docker fills it: inheritable and ambient stay empty. */
export interface OciCapabilities {
  readonly bounding: string[];
  readonly effective: string[];
  readonly permitted: string[];
  readonly inheritable: string[];
  readonly ambient: string[];
}

/**
 * The OCI `process.capabilities` for a process running with `caps`: bounding, effective and
 * permitted hold the set; inheritable and ambient stay empty, so an exec'd non-root program
 * or a file capability cannot pick up more (the fix Docker made for CVE-2022-24769).
 */
export function ociCapabilities(caps: readonly string[]): OciCapabilities {
  const set = [...new Set(caps.map(normalizeCapability))];
  return { bounding: [...set], effective: [...set], permitted: [...set], inheritable: [], ambient: [] };
}
