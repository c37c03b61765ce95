// `berth run -it` and `berth exec -it` on a real terminal: tmux gives them a pty, we type.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadBusybox } from './containers-fixture.js';

const repo = process.env.BERTH_REPO ?? process.cwd();
const bin = join(repo, 'packages/engine/dist/berth.cjs');
const dir = mkdtempSync(join(tmpdir(), 'berth-tty-e2e-'));
const root = join(dir, 'root');
const state = join(dir, 'state');
const session = `berth-tty-${process.pid}`;
const berthCmd = `${process.execPath} ${bin} --root ${root} --state ${state}`;
const hasTmux = spawnSync('tmux', ['-V']).status === 0;

const tmux = (...args: string[]) => spawnSync('tmux', args, { encoding: 'utf8' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const screen = () => tmux('capture-pane', '-p', '-t', session).stdout;

async function until(what: string, fn: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) assert.unreachable(`timed out waiting for ${what}; screen:\n${screen()}`);
    await sleep(100);
  }
}

async function type(text: string): Promise<void> {
  tmux('send-keys', '-t', session, text, 'Enter');
  await sleep(300);
}

test.before(async () => {
  if (!hasTmux) return;
  await loadBusybox(root, bin);
});

test('run -it gives a shell on a pty of the terminal size; Ctrl-C reaches the container; its exit code is ours', async () => {
  if (!hasTmux) { console.log('# skip: tmux is not installed'); return; }
  tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', `${berthCmd} run --rm -it busybox sh; echo EXITED=$?; sleep 60`);
  await until('the prompt', () => screen().includes('/ #'));
  await type('tty; stty size');
  await until('tty output', () => /\/dev\/pts\/0\n30 100/.test(screen()));
  await type('sleep 100');
  tmux('send-keys', '-t', session, 'C-c');
  await type('echo after-interrupt');
  await until('the shell survived Ctrl-C', () => /^after-interrupt$/m.test(screen()));
  await type('exit 7');
  await until('exit', () => screen().includes('EXITED=7'));
  tmux('kill-session', '-t', session);
});

test('exec -it into a running container', async () => {
  if (!hasTmux) { console.log('# skip: tmux is not installed'); return; }
  const r = spawnSync(process.execPath, [bin, '--root', root, '--state', state, 'run', '-d', '--name', 'target', 'busybox', 'sleep', '300'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', `${berthCmd} exec -it target sh; echo EXITED=$?; sleep 60`);
  await until('the prompt', () => screen().includes('/ #'));
  await type('echo inside-$(hostname); tty');
  await until('output', () => new RegExp(`inside-${r.stdout.slice(0, 12)}\\n/dev/pts/0`).test(screen()));
  await type('exit 4');
  await until('exit', () => screen().includes('EXITED=4'));
  tmux('kill-session', '-t', session);
});

test.after(() => {
  tmux('kill-session', '-t', session);
  if (existsSync(bin)) {
    const left = spawnSync(process.execPath, [bin, '--root', root, '--state', state, 'ps', '-aq'], { encoding: 'utf8' }).stdout.trim();
    if (left) spawnSync(process.execPath, [bin, '--root', root, '--state', state, 'rm', '-f', ...left.split('\n')]);
  }
  rmSync(dir, { recursive: true, force: true });
});

test.run();
