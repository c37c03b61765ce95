/**
 * The container lifecycle: the engine facade the CLI (and later the API server) calls.
 *
 * Composition (all passed in, see wiring.ts):
 *   images       ImageResolver      reference → image config + unpacked layer dirs (@berth/layer-store)
 *   snapshotter  RootfsSnapshotter  layer dirs → containers/<id>/rootfs (@berth/overlay)
 *   runtime      ContainerRuntime   config.json → running process (oci-runtime.ts)
 *   store        ContainerStore     rows in berth.db
 *
 * On disk, per container:
 *   $root/containers/<id>/  rootfs/ upper/ work/ (snapshotter)  config.json hosts hostname
 *                           resolv.conf log.json (output)  exit (the monitor's last status)
 *   $state/containers/<id>/ pid (container init pid) runtime.log (the runtime's JSON log)
 *
 * Every running container has a holder: the foreground `berth run` that waits for it, or, detached,
 * its berth-shim (the runtime's monitor; a `berth container monitor` with a runc-CLI runtime). Its
 * pid (and start time) is the row's `shim_pid`. A reader that finds the monitor gone (killed, or the host rebooted) kills what
 * is left of the container and marks it exited: `ps` never shows a ghost "running".
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, conflict, invalidArgument, isBerthError, notFound, toBerthError } from '@berth/errors';
import type { ContainerRuntime, RunExit } from './oci-runtime.js';
import type { RunOptions } from './options.js';
import { buildSpec, containerHostname, hostsFile, mergeEnv, resolveUser, resolvConf, type HostFacts, type ImageRunConfig, type RuntimeSpec } from './spec.js';
import type { ContainerStore } from './store.js';
import type { ContainerId } from './names.js';
import { newContainerId } from './names.js';
import { phase } from './trace.js';
import { containerDir, holderGone, monitorAlive, processStart, selfStart, type Container, type ContainerConfig } from './record.js';
import type { InitEntry } from '@berth/overlay';
import { parseVolumesFromFlag, prepareMounts, releaseMounts, type OciMount, type VolumeStore } from '@berth/volume';

/** An image ready to run: its config and its unpacked layers, topmost first. */
export interface RunnableImage {
  /** The image ID (config digest). */
  readonly id: string;
  /** The reference as the user gave it, normalized for display (`busybox:latest`). */
  readonly name: string;
  readonly config: ImageRunConfig;
  readonly lowerDirs: readonly string[];
}

/** Finds (and, when it can, pulls) images. */
export interface ImageResolver {
  /** A local image by reference or ID, or undefined. */
  find(ref: string): Promise<RunnableImage | undefined>;
  /** Pulls an image from its registry; absent when no registry client is wired. */
  readonly pull?: (ref: string, signal?: AbortSignal) => Promise<RunnableImage>;
}

/** The part of @berth/overlay's Snapshotter the engine uses. */
export interface RootfsSnapshotter {
  prepare(
    key: string, lowerDirs: readonly string[],
    options?: { readonly readonly?: boolean; readonly init?: readonly InitEntry[]; readonly volatile?: boolean },
  ): Promise<unknown>;
  mount(key: string): Promise<void>;
  unmount(key: string): Promise<void>;
  remove(key: string): Promise<void>;
}

export { parseContainerConfig, processStart, selfStart, monitorAlive, type Container, type ContainerConfig } from './record.js';

/** The engine's dependencies. */
export interface EngineDeps {
  readonly root: string;
  readonly state: string;
  readonly store: ContainerStore<ContainerConfig>;
  readonly images: ImageResolver;
  readonly snapshotter: RootfsSnapshotter;
  readonly runtime: ContainerRuntime;
  readonly host: HostFacts;
  readonly defaultSeccomp?: (caps: readonly string[]) => unknown;
  /** A static init binary for `--init`. */
  readonly initPath?: string | undefined;
  readonly callerEnv: Readonly<Record<string, string | undefined>>;
  /** Reads a host file named by the user (--env-file is read earlier; seccomp profiles here). */
  readonly readFile: (path: string) => string;
  /** Volumes, bind and tmpfs mounts: @berth/volume's store on berth.db. */
  readonly volumes: VolumeStore;
}

/** `--pull` policies. */
export type PullPolicy = 'missing' | 'always' | 'never';

/**
 * True when `pid` is a detached holder (a berth-shim, the `container cleanup` it became, or a
 * `berth container monitor`), not a foreground CLI.
 */
function isDetachedMonitor(pid: number): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('container\0monitor\0') || cmd.includes('container\0cleanup\0') || cmd.split('\0')[0]?.endsWith('berth-shim') === true;
  } catch {
    return false;
  }
}

/** The container lifecycle. */
export class ContainerEngine {
  readonly deps: EngineDeps;
  /** Rootfs this engine mounted in this process (create, then the start that follows it). */
  readonly #justMounted = new Set<string>();

  constructor(deps: EngineDeps) {
    this.deps = deps;
  }

  /** The directory of a container in the store. */
  dir(id: string): string {
    return containerDir(this.deps.root, id);
  }

  /** The directory of a container's runtime state. */
  stateDir(id: string): string {
    return join(this.deps.state, 'containers', id);
  }

  /**
   * Appends a container event to `$root/events.log` (one JSON line, Docker's event shape; a
   * single O_APPEND write, so concurrent CLIs never interleave). `berth events` reads it.
   */
  event(action: string, c: Pick<Container, 'id' | 'name' | 'image'>, attrs: Readonly<Record<string, string>> = {}): void {
    const now = Date.now();
    const e = {
      status: action, id: c.id, from: c.image, Type: 'container', Action: action,
      Actor: { ID: c.id, Attributes: { image: c.image, name: c.name, ...attrs } },
      scope: 'local', time: Math.floor(now / 1000), timeNano: now * 1_000_000,
    };
    try { appendFileSync(join(this.deps.root, 'events.log'), JSON.stringify(e) + '\n'); } catch { /* events are best effort */ }
  }

  /** Resolves an image under a pull policy. */
  async image(ref: string, pull: PullPolicy = 'missing', signal?: AbortSignal): Promise<RunnableImage> {
    if (pull !== 'always') {
      const found = await this.deps.images.find(ref);
      if (found) return found;
      if (pull === 'never') throw notFound(`image "${ref}" not found locally and --pull never was given: load or pull it first`);
    }
    if (!this.deps.images.pull) throw notFound(`image "${ref}" not found: load it with berth load -i <archive> or pull it`);
    try {
      return await this.deps.images.pull(ref, signal);
    } catch (e) {
      const err = toBerthError(e);
      throw new BerthError(err.code, `image "${ref}" not found locally, and pulling it failed: ${err.message}`, { cause: e });
    }
  }

  /** `berth create`: records the container, prepares and mounts its rootfs, writes its bundle. */
  async create(ref: string, requested: RunOptions, pull: PullPolicy = 'missing'): Promise<Container> {
    const image = await this.image(ref, pull);
    const options = requested;
    // Every --volumes-from container must exist before anything is created.
    for (const v of options.volumesFrom) this.get(parseVolumesFromFlag(v).container);
    phase('image resolve');
    const id = newContainerId();
    const hostname = containerHostname(id, options);
    // The config needs the rootfs (for /etc/passwd), the row must exist before the rootfs does
    // (so `rm` finds what a crashed create left). Insert first with what is known.
    const base: ContainerConfig = {
      options, image: image.config, lowerDirs: image.lowerDirs, path: '', args: [], env: [], hostname, user: options.user ?? image.config.User ?? '',
      workdir: options.workdir ?? (image.config.WorkingDir || '/'),
    };
    // Validate what can be validated before touching the store.
    const spec0 = this.#spec(id, base, undefined, undefined);
    const rec = this.deps.store.insert({ id, ...(options.name === undefined ? {} : { name: options.name }), image: image.name, imageId: image.id, config: { ...base, path: spec0.process.args[0] ?? '', args: spec0.process.args.slice(1), env: spec0.process.env } });
    phase('spec check, db insert');
    try {
      await this.#prepareBundle(rec);
    } catch (e) {
      // remove releases the mounts this create recorded, and its anonymous volumes with them.
      await this.remove(id, { force: true, volumes: true }).catch(() => undefined);
      throw e;
    }
    const created = this.deps.store.get(id);
    this.event('create', created);
    return created;
  }

  #spec(id: string, cfg: ContainerConfig, passwd: string | undefined, group: string | undefined, userMounts: readonly OciMount[] = []): RuntimeSpec {
    const o = cfg.options;
    const seccompFile = typeof o.security.seccomp === 'object' ? JSON.parse(this.deps.readFile(o.security.seccomp.file)) as unknown : undefined;
    return buildSpec({
      id,
      image: cfg.image,
      options: o,
      rootfs: join(this.dir(id), 'rootfs'),
      containerDir: this.dir(id),
      userMounts,
      callerEnv: this.deps.callerEnv,
      host: this.deps.host,
      ...(passwd === undefined ? {} : { passwd }),
      ...(group === undefined ? {} : { group }),
      ...(this.deps.defaultSeccomp === undefined ? {} : { defaultSeccomp: this.deps.defaultSeccomp }),
      ...(seccompFile === undefined ? {} : { seccompFile }),
      ...(this.deps.initPath === undefined ? {} : { initPath: this.deps.initPath }),
      cgroupsPath: `berth/${id}`,
      ...(o.tty && process.stdout.isTTY ? { consoleSize: { height: process.stdout.rows, width: process.stdout.columns } } : {}),
    });
  }

  async #prepareBundle(c: Container): Promise<void> {
    const dir = this.dir(c.id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // The init layer holds the runtime's mount points (/proc, /dev/pts, /etc/hosts …), so they
    // exist whatever the image has, and `diff`/`commit` never list them.
    // (@berth/overlay loads here, not at start-up: ps, logs, rm … never need it.)
    const { defaultInitEntries } = await import('@berth/overlay');
    // Where the runtime's cgroup move waits for an RCU grace period (~10 ms; cgroup2, user
    // namespaces), begun now it overlaps the rootfs and bundle work below (about as long)
    // instead of the start. (With cgroup v1 the init joins without it: a no-op.)
    this.deps.runtime.warm?.();
    phase('overlay load');
    // A --rm container's rootfs is thrown away: a volatile overlay spares its removal a sync of
    // the whole filesystem under $root.
    await this.deps.snapshotter.prepare(c.id, c.config.lowerDirs, { init: defaultInitEntries, volatile: c.config.options.autoRemove === true });
    phase('rootfs prepare');
    await this.deps.snapshotter.mount(c.id);
    this.#justMounted.add(c.id);
    phase('rootfs mount');
    const rootfs = join(dir, 'rootfs');
    const read = (p: string): string | undefined => {
      try { return readFileSync(join(rootfs, p), 'utf8'); } catch { return undefined; }
    };
    // After the rootfs is mounted: copy-up fills empty volumes from the image's tree.
    const { mounts } = prepareMounts(this.deps.volumes, c.id, c.config.options.mounts, {
      imageRootfs: rootfs,
      imageVolumes: c.config.image.Volumes ?? null,
      volumesFrom: c.config.options.volumesFrom.map((v) => {
        const f = parseVolumesFromFlag(v);
        return { containerId: this.get(f.container).id, ...(f.readonly === undefined ? {} : { readonly: f.readonly }) };
      }),
    });
    phase('mounts prepare');
    const spec = this.#spec(c.id, c.config, read('etc/passwd'), read('etc/group'), mounts);
    let hostResolv = '';
    try { hostResolv = readFileSync('/etc/resolv.conf', 'utf8'); } catch { /* none */ }
    writeFileSync(join(dir, 'hosts'), hostsFile(c.config.hostname));
    writeFileSync(join(dir, 'hostname'), `${c.config.hostname}\n`);
    writeFileSync(join(dir, 'resolv.conf'), resolvConf(hostResolv, c.config.options.network));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
    phase('bundle write');
  }

  /** Finds a container and brings its state up to date with reality (see the file comment). */
  get(ref: string): Container {
    return this.reconcile(this.deps.store.get(ref));
  }

  /** All containers, reconciled. */
  list(): Container[] {
    return this.deps.store.list().map((c) => this.reconcile(c));
  }

  /** A container whose monitor is gone is finished: kill what is left, mark it exited. */
  reconcile(c: Container): Container {
    if (!holderGone(c)) return c;
    return this.deps.store.transition(c.id, (cur) => {
      if (cur.state.status !== c.state.status || cur.state.shimPid !== c.state.shimPid || cur.state.owner !== c.state.owner) return {};
      // A shim that recorded the exit but could not run its cleanup (or whose cleanup died)
      // still knows the status: read it before the runtime's state goes.
      const exit = this.#readExit(c.id) ?? this.deps.runtime.recordedExit?.(c.id);
      this.#killLeftovers(c.id);
      return {
        status: cur.state.status === 'removing' ? 'removing' : 'exited', pid: 0, shimPid: 0, owner: 0,
        exitCode: exit ?? 137, finishedAt: cur.state.finishedAt || new Date().toISOString(),
        error: exit === undefined ? 'the container monitor died' : cur.state.error,
      };
    });
  }

  #killLeftovers(id: string): void {
    if (!this.deps.runtime.exists(id)) return;
    try {
      const st = this.deps.runtime.state(id);
      if (st && st.status !== 'stopped') {
        // (A frozen process dies of SIGKILL only once thawed; delete --force thaws too.)
        if (st.status === 'paused') void Promise.resolve(this.deps.runtime.resume(id)).catch(() => undefined);
        this.deps.runtime.kill(id, 9, true);
      }
      this.deps.runtime.delete(id, true);
    } catch { /* best effort: rm -f retries */ }
  }

  #readExit(id: string): number | undefined {
    try {
      const n = Number(readFileSync(join(this.dir(id), 'exit'), 'utf8').trim());
      return Number.isInteger(n) ? n : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Marks a container `starting` on behalf of this process (the monitor), after checking it can
   * start. Returns the record; the caller spawns the runtime and calls {@link started}.
   */
  beginStart(ref: string): Container {
    const c = this.get(ref);
    return this.deps.store.transition(c.id, (cur) => {
      if (cur.state.status === 'running' || cur.state.status === 'paused') throw conflict(`container ${cur.name} is already running`);
      if (cur.state.status !== 'created' && cur.state.status !== 'exited') {
        throw conflict(`container ${cur.name} is ${cur.state.status}: wait for that to finish`);
      }
      return { status: 'starting', owner: process.pid, holderStart: selfStart(), error: '' };
    });
  }

  /** Prepares the bundle for a (re)start: rootfs mounted, old runtime state gone, stale files removed. */
  async prepareStart(c: Container): Promise<{ pidFile: string; logFile: string }> {
    const sdir = this.stateDir(c.id);
    mkdirSync(sdir, { recursive: true, mode: 0o700 });
    const pidFile = join(sdir, 'pid');
    const logFile = join(sdir, 'runtime.log');
    rmSync(pidFile, { force: true });
    rmSync(logFile, { force: true });
    rmSync(join(this.dir(c.id), 'exit'), { force: true });
    if (this.deps.runtime.exists(c.id)) this.deps.runtime.delete(c.id, true);
    if (!existsSync(join(this.dir(c.id), 'config.json'))) await this.#prepareBundle(c);
    // (A rootfs this engine mounted moments ago, in create, needs no second look at mountinfo.)
    else if (!this.#justMounted.delete(c.id)) await this.deps.snapshotter.mount(c.id);
    return { pidFile, logFile };
  }

  /** Records that the container runs with init `pid`, watched by monitor `shimPid`. */
  started(id: ContainerId, pid: number, shimPid: number, restarting = false): Container {
    const c = this.deps.store.transition(id, (cur) => ({
      status: 'running', pid, shimPid, owner: 0, holderStart: shimPid === process.pid ? selfStart() : processStart(shimPid), startedAt: new Date().toISOString(), finishedAt: '', exitCode: 0, oomKilled: false,
      ...(restarting ? { restartCount: cur.state.restartCount + 1 } : {}),
    }));
    this.event(restarting ? 'restart' : 'start', c);
    return c;
  }

  /**
   * Records the end of a run: the status it exited with (128+n for signal n), or its start
   * failure. Returns the container's exit code (Docker's: 127 not found, 126 cannot run,
   * 125 any other start failure) and, for a start failure, the error.
   */
  finished(id: ContainerId, r: RunExit & { readonly failure?: BerthError }): { code: number; error?: Error } {
    const err = r.failure;
    const code = err ? (err.detail?.['exec'] === true ? (err.code === 'NotFound' ? 127 : 126) : 125) : r.status;
    try { writeFileSync(join(this.dir(id), 'exit'), `${code}\n`); } catch { /* removed meanwhile (rm -f) */ }
    // The event first: whoever waits for the status (stop, wait) then sees die before its own.
    const before = this.deps.store.find(id);
    if (before) this.event('die', before, { exitCode: String(code) });
    // The runtime's record goes before the row says exited: a `start` or `restart` elsewhere
    // may begin as soon as it does, and must not have its new runtime state deleted under it.
    let deleteFailure: unknown;
    try {
      if (this.deps.runtime.exists(id)) this.deps.runtime.delete(id, true);
    } catch (e) {
      deleteFailure = e;
    }
    this.deps.store.update(id, {
      status: 'exited', pid: 0, shimPid: 0, owner: 0, exitCode: code, finishedAt: new Date().toISOString(),
      error: err?.message ?? '', oomKilled: err === undefined && r.oomKilled,
    });
    if (deleteFailure !== undefined) throw deleteFailure;
    return err ? { code, error: err } : { code };
  }

  /** Unmounts a stopped container's rootfs (kept prepared for a restart). */
  async release(id: ContainerId): Promise<void> {
    await this.deps.snapshotter.unmount(id).catch(() => undefined);
  }

  /**
   * Unmounts a container that has just exited, before {@link finished} records it, when nothing
   * follows: no restart (its policy, unless it was stopped or failed to start) and no --rm (whose
   * remove unmounts). Once the row says exited a `start` elsewhere may mount the rootfs again,
   * and a late unmount would take that away. Resolves whether it unmounted.
   */
  async releaseIfDone(c: Container, exit: { readonly status: number; readonly failed: boolean; readonly stopped: boolean }): Promise<boolean> {
    if (c.config.options.autoRemove) return false;
    if (!exit.failed && !exit.stopped && this.shouldRestart(c.id, exit.status)) return false;
    await this.release(c.id);
    return true;
  }

  /** Sends a signal to a running container's init. */
  kill(ref: string, signal: number): Container {
    const c = this.get(ref);
    if (c.state.status !== 'running' && c.state.status !== 'paused' && c.state.status !== 'stopping') {
      throw conflict(`container ${c.name} is not running`);
    }
    this.deps.runtime.kill(c.id, signal);
    this.event('kill', c, { signal: String(signal) });
    return c;
  }

  /**
   * Stops a container: its stop signal, then SIGKILL after `timeoutSec`. Marks it `stopping` so
   * the monitor knows not to restart it. Resolves once it has exited.
   */
  async stop(ref: string, timeoutSec?: number, signal?: AbortSignal): Promise<Container> {
    let c = this.get(ref);
    if (c.state.status !== 'running' && c.state.status !== 'paused') return c;
    c = this.deps.store.transition(c.id, (cur) => (cur.state.status === 'running' || cur.state.status === 'paused' ? { status: 'stopping', owner: cur.state.shimPid } : {}));
    const stopSignal = c.config.options.stopSignal ?? 15;
    const timeout = timeoutSec ?? c.config.options.stopTimeout ?? 10;
    try {
      if (c.state.status === 'paused') await this.deps.runtime.resume(c.id);
      this.deps.runtime.kill(c.id, stopSignal);
    } catch (e) {
      if (!isBerthError(e, 'NotFound')) throw e;
    }
    if (!(await this.#waitExit(c.id, timeout < 0 ? Infinity : timeout * 1000, signal))) {
      try { this.deps.runtime.kill(c.id, 9, true); } catch { /* already gone */ }
      await this.#waitExit(c.id, 10_000, signal);
    }
    this.event('stop', c);
    return this.get(c.id);
  }

  async #waitExit(id: ContainerId, ms: number, signal?: AbortSignal): Promise<boolean> {
    const end = Date.now() + ms;
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      const c = this.get(id);
      if (c.state.status === 'exited' || c.state.status === 'created') return true;
      if (Date.now() >= end || signal?.aborted) return false;
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** `berth wait`: resolves with the exit code once the container is not running (or removed). */
  async wait(ref: string, signal?: AbortSignal): Promise<number> {
    const c = this.get(ref);
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      const cur = this.deps.store.find(c.id);
      if (!cur) return c.state.exitCode;
      const r = this.reconcile(cur);
      if (r.state.status === 'exited' || r.state.status === 'created') return r.state.exitCode;
      if (signal?.aborted) throw toBerthError(signal.reason);
      await new Promise((res) => setTimeout(res, delay));
    }
  }

  /** `berth rm`: refuses a running container unless forced; removes rootfs, files and row. */
  async remove(ref: string, o: { readonly force?: boolean; readonly volumes?: boolean } = {}): Promise<Container> {
    const c = this.get(ref);
    const running = c.state.status === 'running' || c.state.status === 'paused' || c.state.status === 'starting' || c.state.status === 'stopping';
    if (running && !o.force) throw conflict(`you cannot remove a running container ${c.id.slice(0, 12)}: stop it first or use rm -f`);
    this.deps.store.transition(c.id, (cur) => {
      if (cur.state.status === 'removing' && monitorAlive(cur.state.owner, cur.state.holderStart) && cur.state.owner !== process.pid) {
        throw conflict(`container ${cur.name} is already being removed`);
      }
      return { status: 'removing', owner: process.pid, holderStart: selfStart() };
    });
    this.#killLeftovers(c.id);
    if (running && monitorAlive(c.state.shimPid, c.state.holderStart) && isDetachedMonitor(c.state.shimPid)) {
      // A detached monitor has nothing left to do (the row says removing, so it would not
      // restart); a foreground `berth run` is left to see the exit and report it to its user.
      try { process.kill(c.state.shimPid, 'SIGKILL'); } catch { /* gone */ }
    }
    await this.deps.snapshotter.remove(c.id);
    rmSync(this.dir(c.id), { recursive: true, force: true });
    rmSync(this.stateDir(c.id), { recursive: true, force: true });
    this.deps.store.delete(c.id);
    // After the row is gone, so the volume store no longer counts this container as a user.
    releaseMounts(this.deps.volumes, c.id, { removeAnonymous: o.volumes === true });
    this.event('destroy', c);
    return c;
  }

  /** Writes the process file of an exec into the container's state dir; returns its path and the runtime log path. */
  prepareExec(c: Container, r: ExecRequest): { processFile: string; logFile: string } {
    if (c.state.status !== 'running') throw conflict(`container ${c.name} is not running: start it first`);
    const spec = JSON.parse(readFileSync(join(this.dir(c.id), 'config.json'), 'utf8')) as RuntimeSpec;
    const read = (p: string): string | undefined => {
      try { return readFileSync(join(this.dir(c.id), 'rootfs', p), 'utf8'); } catch { return undefined; }
    };
    const proc = execProcess(spec.process, r, this.deps.callerEnv, read('etc/passwd'), read('etc/group'));
    const sdir = this.stateDir(c.id);
    mkdirSync(sdir, { recursive: true, mode: 0o700 });
    const tag = `exec-${process.pid}-${Date.now()}`;
    const processFile = join(sdir, `${tag}.json`);
    writeFileSync(processFile, JSON.stringify(proc));
    return { processFile, logFile: join(sdir, `${tag}.log`) };
  }

  /** `berth rename`. */
  rename(ref: string, name: string): void {
    const c = this.get(ref);
    this.deps.store.rename(c.id, name);
    this.event('rename', { ...c, name }, { oldName: `/${c.name}` });
  }

  /** `berth pause` / `unpause` (cgroup freezer, through the runtime). */
  async pause(ref: string, on: boolean): Promise<void> {
    const c = this.get(ref);
    if (on && c.state.status !== 'running') throw conflict(`container ${c.name} is not running`);
    if (!on && c.state.status !== 'paused') throw conflict(`container ${c.name} is not paused`);
    if (on) await this.deps.runtime.pause(c.id);
    else await this.deps.runtime.resume(c.id);
    this.deps.store.transition(c.id, () => ({ status: on ? 'paused' : 'running' }));
    this.event(on ? 'pause' : 'unpause', c);
  }

  /** Whether the monitor should start the container again after it exited with `code`. */
  shouldRestart(id: ContainerId, code: number): boolean {
    const c = this.deps.store.find(id);
    if (!c || c.state.status === 'stopping' || c.state.status === 'removing') return false;
    const p = c.config.options.restart;
    if (p.name === 'always' || p.name === 'unless-stopped') return true;
    if (p.name === 'on-failure') return code !== 0 && (p.maxRetries === 0 || c.state.restartCount < p.maxRetries);
    return false;
  }
}

/** What `berth exec` asks for. */
export interface ExecRequest {
  readonly command: readonly string[];
  readonly tty: boolean;
  readonly env: readonly string[];
  readonly user?: string;
  readonly workdir?: string;
}

/** The OCI process of an exec: the container's own process, with the request's changes. */
export function execProcess(
  base: RuntimeSpec['process'], r: ExecRequest, callerEnv: Readonly<Record<string, string | undefined>>,
  passwd: string | undefined, group: string | undefined,
): RuntimeSpec['process'] {
  if (r.command.length === 0) throw invalidArgument('berth exec needs a command to run');
  const { consoleSize: _c, ...p } = base;
  let user = p.user;
  if (r.user !== undefined) {
    const u = resolveUser(r.user, passwd, group);
    user = { uid: u.uid, gid: u.gid, ...(u.additionalGids.length > 0 ? { additionalGids: [...u.additionalGids] } : {}) };
  }
  const env = mergeEnv([p.env, r.env], callerEnv);
  if (r.tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
  return { ...p, terminal: r.tty, args: [...r.command], env, cwd: r.workdir ?? p.cwd, user };
}

/** Checks a container reference argument list is not empty. */
export function needRefs(refs: readonly string[], cmd: string): void {
  if (refs.length === 0) throw invalidArgument(`"berth ${cmd}" requires at least 1 container`);
}
