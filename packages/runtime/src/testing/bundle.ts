/**
 * Test helper: an OCI bundle whose rootfs holds Debian's static busybox and its applet
 * links, with a config.json from {@link defaultSpec} adjusted by the caller.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSpec } from '../default-spec.js';
import type { OciConfig } from '../spec.js';

/** A bundle directory and how to remove it. */
export interface TestBundle {
  readonly dir: string;
  readonly rootfs: string;
  writeConfig(config: OciConfig): void;
  remove(): void;
}

let applets: string[] | undefined;

/** Makes a busybox bundle; `edit` adjusts the default spec (non-terminal, `args`). */
export function busyboxBundle(args: readonly string[], edit: (c: OciConfig) => OciConfig = (c) => c): TestBundle {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bundle-'));
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'root']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
  applets ??= execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a !== '' && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(rootfs, 'bin', a));
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  const writeConfig = (c: OciConfig): void => writeFileSync(join(dir, 'config.json'), JSON.stringify(c, null, 2));
  writeConfig(edit(defaultSpec({ args, terminal: false })));
  return { dir, rootfs, writeConfig, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
