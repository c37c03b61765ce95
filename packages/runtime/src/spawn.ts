/**
 * Spawning a program with exactly the given fds as its fds 0…n-1, and nothing else of ours.
 *
 * node:child_process is the ordinary way, and costs a short CLI dearly: loading it (with net,
 * dgram and the stream machinery behind it) and its first spawn take ~8 ms of a `berth run`.
 * Underneath, libuv forks: the kernel copies the page tables of Node's whole heap, and the fork
 * and exec take ~4.5 ms (on this host, where page faults are dear). The addon's posix_spawn
 * (vfork semantics: nothing copied) takes ~1 ms. The exit is read by waitpid on libuv's thread
 * pool, started only when asked for: a process whose end nobody awaits keeps nothing of ours
 * busy, and once we exit it is reaped by init.
 */
import { LinuxSys } from '@berth/native';

/** How a spawned process ended: its exit code, or the signal that killed it. */
export interface SpawnExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A process started by {@link spawnWithFds}. */
export interface SpawnedProcess {
  readonly pid: number;
  /** Waits for its end (and reaps it); the same promise on every call. */
  wait(): Promise<SpawnExit>;
}

/**
 * Runs `file` (argv[0] = file) with `fds[i]` as its fd i, this process's environment, in a
 * session of its own with `detached`. Throws when it cannot be started (ENOENT, EACCES…).
 */
export function spawnWithFds(file: string, args: readonly string[], fds: readonly number[], o: { readonly detached?: boolean } = {}): SpawnedProcess {
  const sys = new LinuxSys();
  const pid = sys.spawn(file, [file, ...args], fds, { setsid: o.detached === true });
  let exited: Promise<SpawnExit> | undefined;
  return { pid, wait: () => (exited ??= sys.waitPid(pid)) };
}
