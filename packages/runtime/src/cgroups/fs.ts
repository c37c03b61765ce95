// node:fs's callbacks, not node:fs/promises: loading that module costs `run` over a millisecond.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdir, writeFile, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The door to cgroup files: everything the drivers do to a cgroup hierarchy is one of these
 * calls on an absolute path. `NodeCgroupFs` is the real thing; `MemoryCgroupFs` is a fake
 * that lets the mapping logic be tested without root. Failures reject with a Node-style
 * error carrying `code` (`ENOENT`, `EBUSY` …), which the drivers turn into BerthErrors.
 */
export interface CgroupFs {
  /** The whole content of an interface file. */
  read(path: string): Promise<string>;
  /** One write(2) of `data` to an existing interface file (never creates it). */
  write(path: string, data: string): Promise<void>;
  /** Creates one directory (its parent must exist); resolves false when it already existed. */
  mkdir(path: string): Promise<boolean>;
  /** Removes an empty cgroup directory. */
  rmdir(path: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** Names of the sub-directories (child cgroups) of a directory. */
  children(path: string): Promise<string[]>;
}

/**
 * The real cgroup filesystem through node:fs. Interface files live in kernel memory: a read,
 * a write or a mkdir there never waits on a disk, so they are made with the synchronous calls
 * (one syscall each, instead of an open/write/close round trip each through libuv's thread
 * pool: creating a container's cgroup takes some 40 of them, on `run`'s critical path). The
 * exception is moving a process (`cgroup.procs`, `tasks`), which may wait for an RCU grace
 * period (milliseconds): it stays off the event loop's thread.
 */
export class NodeCgroupFs implements CgroupFs {
  async read(path: string): Promise<string> {
    return readFileSync(path, 'utf8');
  }

  async write(path: string, data: string): Promise<void> {
    // 'r+' so a missing interface file is ENOENT instead of a new regular file; one write(2)
    // because the kernel parses each write on its own.
    if (movesProcess(path)) await new Promise<void>((res, rej) => writeFile(path, data, { flag: 'r+' }, (e) => (e ? rej(e) : res())));
    else writeFileSync(path, data, { flag: 'r+' });
  }

  async mkdir(path: string): Promise<boolean> {
    try {
      mkdirSync(path);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
  }

  rmdir(path: string): Promise<void> {
    return new Promise((res, rej) => rmdir(path, (e) => (e ? rej(e) : res())));
  }

  async exists(path: string): Promise<boolean> {
    return existsSync(path);
  }

  async children(path: string): Promise<string[]> {
    const entries = readdirSync(path, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  }
}

const movesProcess = (path: string): boolean => /\/(cgroup\.procs|tasks|cgroup\.threads)$/.test(path);

function errnoError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: ${syscall} '${path}'`);
  e.code = code;
  e.syscall = syscall;
  e.path = path;
  return e;
}

/** Options of the fake: values new cgroups start with, instead of copying their parent's. */
export interface MemoryCgroupFsOptions {
  /** File name → initial content in a new child cgroup. Default: empty cpuset, procs and subtree_control. */
  readonly childDefaults?: Readonly<Record<string, string>>;
}

/**
 * An in-memory cgroup hierarchy. Like the kernel, `mkdir` fills a new cgroup with its
 * parent's interface files (same names; content from `childDefaults`, else the parent's);
 * writes go only to existing files; `cgroup.procs` collects pids; `rmdir` refuses (EBUSY) a
 * cgroup that still has processes or children. `writes` records every write in order, and
 * `failOn` makes chosen calls fail with an errno.
 */
export class MemoryCgroupFs implements CgroupFs {
  readonly files = new Map<string, string>();
  readonly dirs = new Set<string>();
  readonly writes: Array<[path: string, data: string]> = [];
  /** Return an errno (`EBUSY`) to make the call fail. */
  failOn: ((op: 'read' | 'write' | 'mkdir' | 'rmdir', path: string) => string | undefined) | undefined;
  private readonly childDefaults: Readonly<Record<string, string>>;

  constructor(options: MemoryCgroupFsOptions = {}) {
    this.childDefaults = options.childDefaults ?? {
      'cpuset.cpus': '',
      'cpuset.mems': '',
      'cgroup.procs': '',
      tasks: '',
      'cgroup.subtree_control': '',
      'freezer.state': 'THAWED',
      'cgroup.freeze': '0',
      'cgroup.events': 'populated 0\nfrozen 0\n',
      'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n',
      'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n',
    };
  }

  /** Seeds a cgroup directory (and its ancestors) with interface files. */
  seed(dir: string, files: Readonly<Record<string, string>>): this {
    for (let d = dir; d !== '/' && !this.dirs.has(d); d = dirname(d)) this.dirs.add(d);
    for (const [name, content] of Object.entries(files)) this.files.set(`${dir}/${name}`, content);
    return this;
  }

  private fail(op: 'read' | 'write' | 'mkdir' | 'rmdir', path: string): void {
    const code = this.failOn?.(op, path);
    if (code !== undefined) throw errnoError(code, op === 'read' ? 'open' : op, path);
  }

  async read(path: string): Promise<string> {
    this.fail('read', path);
    const v = this.files.get(path);
    if (v === undefined) throw errnoError('ENOENT', 'open', path);
    return v;
  }

  async write(path: string, data: string): Promise<void> {
    this.fail('write', path);
    const old = this.files.get(path);
    if (old === undefined) throw errnoError('ENOENT', 'open', path);
    this.writes.push([path, data]);
    if (path.endsWith('/cgroup.procs')) {
      this.files.set(path, old === '' ? `${data}\n` : `${old}${data}\n`);
    } else if (path.endsWith('/freezer.state')) {
      this.files.set(path, data.trim());
    } else if (path.endsWith('/cgroup.freeze')) {
      this.files.set(path, data.trim());
      const events = dirname(path) + '/cgroup.events';
      this.files.set(events, `populated 0\nfrozen ${data.trim()}\n`);
    } else {
      this.files.set(path, data);
    }
  }

  async mkdir(path: string): Promise<boolean> {
    this.fail('mkdir', path);
    if (this.dirs.has(path)) return false;
    const parent = dirname(path);
    if (!this.dirs.has(parent)) throw errnoError('ENOENT', 'mkdir', path);
    this.dirs.add(path);
    for (const [file, content] of [...this.files]) {
      if (dirname(file) !== parent) continue;
      const name = file.slice(parent.length + 1);
      // Files only the root cgroup has stay there, as in the kernel.
      if (name === 'cgroup.sane_behavior' || name === 'release_agent') continue;
      this.files.set(`${path}/${name}`, this.childDefaults[name] ?? content);
    }
    return true;
  }

  async rmdir(path: string): Promise<void> {
    this.fail('rmdir', path);
    if (!this.dirs.has(path)) throw errnoError('ENOENT', 'rmdir', path);
    if ((this.files.get(`${path}/cgroup.procs`) ?? '').trim() !== '') throw errnoError('EBUSY', 'rmdir', path);
    if ([...this.dirs].some((d) => dirname(d) === path)) throw errnoError('EBUSY', 'rmdir', path);
    this.dirs.delete(path);
    for (const file of [...this.files.keys()]) if (dirname(file) === path) this.files.delete(file);
  }

  async exists(path: string): Promise<boolean> {
    return this.dirs.has(path) || this.files.has(path);
  }

  async children(path: string): Promise<string[]> {
    if (!this.dirs.has(path)) throw errnoError('ENOENT', 'scandir', path);
    return [...this.dirs].filter((d) => dirname(d) === path).map((d) => d.slice(path.length + 1));
  }

  /** The last value written to a file, or undefined. */
  lastWrite(path: string): string | undefined {
    for (let i = this.writes.length - 1; i >= 0; i--) {
      const w = this.writes[i];
      if (w !== undefined && w[0] === path) return w[1];
    }
    return undefined;
  }
}
