/**
 * Unpacking layers on worker threads, so several layers of a pull use several cores (the main
 * thread keeps the network and the blob ingest). At most one worker per CPU: more workers than
 * cores only share the same cores, and each new isolate compiles the same hot code again. A
 * worker unpacks several layers at once, chunk by chunk as their bytes arrive: a layer that
 * streams one large file keeps its worker mostly idle, and a layer of small files beside it
 * uses the rest (with one layer per worker, the third download of a pull on two cores stalled
 * until a worker was free).
 *
 *   main (UnpackPool.unpack)                            worker (unpack-worker.ts)
 *     start {id, dir, expectedDiffID, hashSource} ──►     unpackLayer(own LinuxSys, feed[id], dir)
 *     data {id, chunk: ArrayBuffer, transferred}  ──►     feed[id].push   ─► ack {id, bytes} when consumed
 *     … at most `inFlight` bytes of a layer unacknowledged …
 *     end {id}                                    ──►     feed[id].end
 *     abort {id, error} (the source failed)       ──►     feed[id].fail   ─► error {id, …}
 *                                                 ◄──     done {id, result} | error {id, name, code, message, …}
 *
 * Every byte of the source reaches the worker in order (the diffID covers all of them); the
 * promise settles only after the worker answered, so when it rejects the worker has stopped
 * writing and the caller can remove the directory. Idle workers are unref'd: they never keep
 * the process alive.
 */
import { fileURLToPath } from 'node:url';
// Only the type here: node:worker_threads loads at the first unpack (a `berth run` never pays it).
import type { Worker } from 'node:worker_threads';
import { BerthError, internal, type ErrorCode } from '@berth/errors';
import type { Digest } from './digest.js';
import type { UnpackOptions, UnpackResult } from './unpack.js';

/** A message to a worker. */
export type ToWorker =
  | { readonly type: 'start'; readonly id: number; readonly dir: string; readonly expectedDiffID: Digest | undefined; readonly hashSource: boolean }
  | { readonly type: 'data'; readonly id: number; readonly chunk: ArrayBuffer }
  | { readonly type: 'end'; readonly id: number }
  | { readonly type: 'abort'; readonly id: number; readonly error: SerializedError };

/** A message from a worker, about the unpack `id`. */
export type ToMain =
  | { readonly type: 'ack'; readonly id: number; readonly bytes: number }
  | { readonly type: 'done'; readonly id: number; readonly result: UnpackResult }
  | { readonly type: 'error'; readonly id: number; readonly error: SerializedError };

/** An error as it crosses threads (structured clone keeps only an Error's message and stack). */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly errno?: string;
  readonly syscall?: string;
  readonly path?: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** Flattens an error for postMessage. */
export function serializeError(e: unknown): SerializedError {
  if (e instanceof BerthError) {
    return {
      name: e.name, message: e.message, code: e.code,
      ...(e.errno === undefined ? {} : { errno: e.errno }), ...(e.syscall === undefined ? {} : { syscall: e.syscall }),
      ...(e.path === undefined ? {} : { path: e.path }), ...(e.detail === undefined ? {} : { detail: e.detail }),
    };
  }
  const x = e as { code?: unknown; message?: unknown } | null;
  const code = typeof x?.code === 'string' ? x.code : undefined;
  return { name: e instanceof Error ? e.name : 'Error', message: e instanceof Error ? e.message : String(e), ...(code === undefined ? {} : { code }) };
}

/** Rebuilds a serialized error: a BerthError stays one (code, errno, detail and all). */
export function deserializeError(s: SerializedError): Error {
  if (s.name === 'BerthError' && s.code !== undefined) {
    return new BerthError(s.code as ErrorCode, s.message, {
      ...(s.errno === undefined ? {} : { errno: s.errno }), ...(s.syscall === undefined ? {} : { syscall: s.syscall }),
      ...(s.path === undefined ? {} : { path: s.path }), ...(s.detail === undefined ? {} : { detail: s.detail }),
    });
  }
  return Object.assign(new Error(s.message), { name: s.name, ...(s.code === undefined ? {} : { code: s.code }) });
}

/** Bytes sent to a worker and not yet consumed by it, at most: memory stays flat. */
const inFlight = 8 << 20;
/** Chunks are gathered to this size before a message (fewer, larger messages). */
const batchBytes = 512 << 10;
/** The default cap on workers: one per CPU this process may use. */
function defaultWorkers(): number {
  return Math.max(1, process.getBuiltinModule('node:os').availableParallelism());
}

/** Idle workers are stopped after this long without work. */
const idleMs = 10_000;

/**
 * Starts a worker: its code is beside this module in dist/, or beside the engine's bundle; run
 * from sources (tests, under tsx) the worker registers tsx itself, as a worker thread does not
 * inherit the main thread's module hooks.
 */
function startWorker(): Worker {
  const { Worker } = process.getBuiltinModule('node:worker_threads');
  const here = import.meta.url;
  if (here.endsWith('.cjs')) return new Worker(new URL('./berth-unpack-worker.cjs', here));
  if (!here.endsWith('.ts')) return new Worker(new URL('./unpack-worker.js', here));
  return new Worker("require('tsx/cjs/api').register(); require(require('node:worker_threads').workerData.entry);", {
    eval: true, workerData: { entry: fileURLToPath(new URL('./unpack-worker.ts', here)) },
  });
}

/** A worker and the unpacks it runs, by id. */
interface Slot {
  readonly w: Worker;
  readonly jobs: Map<number, (m: ToMain) => void>;
  /** Set once the worker failed or exited: it takes no more work. */
  dead?: Error;
}

/** Unpacks layers on worker threads (see the protocol above). */
export class UnpackPool {
  private readonly slots: Slot[] = [];
  private retire: NodeJS.Timeout | undefined;
  private nextId = 1;

  /** At most `max` workers (default: one per CPU); beyond that, workers share layers. */
  constructor(private readonly max: number = defaultWorkers()) {}

  private start(): Slot {
    const slot: Slot = { w: startWorker(), jobs: new Map() };
    const fail = (e: Error): void => {
      if (slot.dead) return;
      slot.dead = e;
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      for (const onMessage of [...slot.jobs.values()]) onMessage({ type: 'error', id: 0, error: serializeError(e) });
    };
    slot.w.on('message', (m: ToMain) => slot.jobs.get(m.id)?.(m));
    slot.w.on('error', (e: Error) => { fail(internal(`layer unpack worker failed: ${e.message}`, { cause: e })); void slot.w.terminate(); });
    slot.w.on('exit', (code: number) => fail(internal(`layer unpack worker exited (code ${code}) before it finished`)));
    slot.w.unref();
    this.slots.push(slot);
    return slot;
  }

  /** An idle worker, else a new one while under `max`, else the one with the fewest layers. */
  private pick(): Slot {
    const idle = this.slots.find((s) => s.jobs.size === 0);
    if (idle) return idle;
    if (this.slots.length < this.max) return this.start();
    return this.slots.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
  }

  /** Workers idle for {@link idleMs} are stopped (a long-lived `berth serve`). */
  private idleCheck(): void {
    clearTimeout(this.retire);
    if (this.slots.some((s) => s.jobs.size > 0)) return;
    this.retire = setTimeout(() => { void this.close(); }, idleMs);
    this.retire.unref();
  }

  /** Unpacks `source` into `dir` (which exists) on a worker: {@link unpackLayer}'s contract. */
  async unpack(source: AsyncIterable<Uint8Array>, dir: string, options: UnpackOptions = {}): Promise<UnpackResult> {
    const slot = this.pick();
    const { w } = slot;
    const id = this.nextId++;
    clearTimeout(this.retire);
    let acked = 0;
    let sent = 0;
    let wakePump: (() => void) | undefined;
    let settled = false;
    const result = new Promise<UnpackResult>((resolve, reject) => {
      slot.jobs.set(id, (m: ToMain): void => {
        if (m.type === 'ack') {
          acked += m.bytes;
          if (sent - acked <= inFlight / 2) { const f = wakePump; wakePump = undefined; f?.(); }
          return;
        }
        settled = true;
        slot.jobs.delete(id);
        if (slot.jobs.size === 0) w.unref();
        wakePump?.();
        this.idleCheck();
        if (m.type === 'done') resolve(m.result);
        else reject(deserializeError(m.error));
      });
    });
    w.ref();
    const post = (m: ToWorker, transfer?: ArrayBuffer[]): void => { if (!settled) w.postMessage(m, transfer); };
    post({ type: 'start', id, dir, expectedDiffID: options.expectedDiffID, hashSource: options.hashSource !== false });

    const pump = async (): Promise<void> => {
      const it = source[Symbol.asyncIterator]();
      let batch: Uint8Array[] = [];
      let size = 0;
      const flush = (): void => {
        if (size === 0) return;
        // One copy into a buffer of its own, which is then moved (not copied) to the worker;
        // not zero-filled first (every byte is written), which cost a memset per batch.
        const out = Buffer.allocUnsafeSlow(size);
        let off = 0;
        for (const c of batch) { out.set(c, off); off += c.length; }
        batch = [];
        sent += size;
        size = 0;
        post({ type: 'data', id, chunk: out.buffer }, [out.buffer]);
      };
      try {
        for (;;) {
          if (settled) { await it.return?.(); return; }
          if (options.signal?.aborted) throw new BerthError('Canceled', 'layer unpack canceled');
          const r = await it.next();
          if (r.done) break;
          batch.push(r.value);
          size += r.value.length;
          if (size >= batchBytes) {
            flush();
            while (!settled && sent - acked > inFlight) await new Promise<void>((res) => { wakePump = res; });
          }
        }
        flush();
        post({ type: 'end', id });
      } catch (e) {
        post({ type: 'abort', id, error: serializeError(e) });
      }
    };
    // On success the worker read everything; on failure the pump stops at its next chunk (the
    // caller destroys a stalled source once this rejects).
    void pump();
    return result;
  }

  /** Starts workers until there are `count` (at most `max`), so that their start-up overlaps other work. */
  warm(count: number): void {
    while (this.slots.length < Math.min(count, this.max)) this.start();
    this.idleCheck();
  }

  /** Stops the idle workers. */
  async close(): Promise<void> {
    clearTimeout(this.retire);
    const idle = this.slots.filter((s) => s.jobs.size === 0);
    for (const s of idle) this.slots.splice(this.slots.indexOf(s), 1);
    await Promise.all(idle.map((s) => { s.dead = new Error('stopped'); return s.w.terminate(); }));
  }
}
