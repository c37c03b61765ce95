/**
 * Unpacking layers on worker threads: one worker per layer unpacking at once, reused, so several
 * layers of a pull use several cores (the main thread keeps the network and the blob ingest).
 * At most one worker per CPU: a layer beyond that waits for a worker (its download then stalls
 * on backpressure). More workers than cores only share the same cores, and each new isolate
 * compiles the same hot code again: with 3 workers on 2 cores a pull took ~10% longer.
 *
 *   main (UnpackPool.unpack)                        worker (unpack-worker.ts)
 *     start {dir, expectedDiffID, hashSource} ──►     unpackLayer(own LinuxSys, feed, dir)
 *     data {chunk: ArrayBuffer, transferred}  ──►     feed.push        ─► ack {bytes} when consumed
 *     … at most `inFlight` bytes unacknowledged …
 *     end                                     ──►     feed.end
 *     abort {error} (the source failed)       ──►     feed.fail        ─► error {…}
 *                                             ◄──     done {result} | error {name, code, message, …}
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
  | { readonly type: 'start'; readonly dir: string; readonly expectedDiffID: Digest | undefined; readonly hashSource: boolean }
  | { readonly type: 'data'; readonly chunk: ArrayBuffer }
  | { readonly type: 'end' }
  | { readonly type: 'abort'; readonly error: SerializedError };

/** A message from a worker. */
export type ToMain =
  | { readonly type: 'ack'; readonly bytes: number }
  | { readonly type: 'done'; readonly result: UnpackResult }
  | { readonly type: 'error'; readonly error: SerializedError };

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

/** Unpacks layers on worker threads (see the protocol above). */
export class UnpackPool {
  private readonly idle: Worker[] = [];
  private retire: NodeJS.Timeout | undefined;
  /** Workers started and not stopped. */
  private live = 0;
  /** Unpacks waiting for a worker (all {@link max} are busy). */
  private readonly waiting: Array<(w: Worker) => void> = [];

  /** At most `max` workers at once (default: one per CPU); further unpacks wait for one. */
  constructor(private readonly max: number = defaultWorkers()) {}

  private start(): Worker {
    const w = startWorker();
    this.live++;
    w.once('exit', () => {
      this.live--;
      // A worker that died (it failed) frees its place for an unpack that waits.
      const next = this.waiting.shift();
      if (next !== undefined) next(this.start());
    });
    return w;
  }

  private acquire(): Worker | Promise<Worker> {
    const w = this.idle.pop();
    if (w !== undefined) return w;
    if (this.live < this.max) return this.start();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Puts a worker back; workers idle for {@link idleMs} are stopped (a long-lived `berth serve`). */
  private release(w: Worker): void {
    const next = this.waiting.shift();
    if (next !== undefined) { next(w); return; }
    w.unref();
    this.idle.push(w);
    clearTimeout(this.retire);
    this.retire = setTimeout(() => { void this.close(); }, idleMs);
    this.retire.unref();
  }

  /** Unpacks `source` into `dir` (which exists) on a worker: {@link unpackLayer}'s contract. */
  async unpack(source: AsyncIterable<Uint8Array>, dir: string, options: UnpackOptions = {}): Promise<UnpackResult> {
    const w = await this.acquire();
    w.ref();
    let acked = 0;
    let sent = 0;
    let wakePump: (() => void) | undefined;
    let settled = false;
    const result = new Promise<UnpackResult>((resolve, reject) => {
      const finish = (): void => {
        settled = true;
        w.off('message', onMessage);
        w.off('error', onError);
        w.off('exit', onExit);
        wakePump?.();
      };
      const onMessage = (m: ToMain): void => {
        if (m.type === 'ack') {
          acked += m.bytes;
          if (sent - acked <= inFlight / 2) { const f = wakePump; wakePump = undefined; f?.(); }
          return;
        }
        finish();
        this.release(w);
        if (m.type === 'done') resolve(m.result);
        else reject(deserializeError(m.error));
      };
      const onError = (e: Error): void => { finish(); void w.terminate(); reject(internal(`layer unpack worker failed: ${e.message}`, { cause: e })); };
      const onExit = (code: number): void => { finish(); reject(internal(`layer unpack worker exited (code ${code}) before it finished`)); };
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
    });
    const post = (m: ToWorker, transfer?: ArrayBuffer[]): void => { if (!settled) w.postMessage(m, transfer); };
    post({ type: 'start', dir, expectedDiffID: options.expectedDiffID, hashSource: options.hashSource !== false });

    const pump = async (): Promise<void> => {
      const it = source[Symbol.asyncIterator]();
      let batch: Uint8Array[] = [];
      let size = 0;
      const flush = (): void => {
        if (size === 0) return;
        // One copy into a buffer of its own, which is then moved (not copied) to the worker.
        const out = new Uint8Array(size);
        let off = 0;
        for (const c of batch) { out.set(c, off); off += c.length; }
        batch = [];
        sent += size;
        size = 0;
        post({ type: 'data', chunk: out.buffer }, [out.buffer]);
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
        post({ type: 'end' });
      } catch (e) {
        post({ type: 'abort', error: serializeError(e) });
      }
    };
    // On success the worker read everything; on failure the pump stops at its next chunk (the
    // caller destroys a stalled source once this rejects).
    void pump();
    return result;
  }

  /** Starts idle workers until there are `count`, so that their start-up overlaps other work. */
  warm(count: number): void {
    while (this.idle.length < count && this.live < this.max) {
      const w = this.start();
      // An idle worker that fails (it cannot start) is dropped; the next unpack starts another.
      w.once('error', () => { const i = this.idle.indexOf(w); if (i >= 0) this.idle.splice(i, 1); });
      this.release(w);
    }
  }

  /** Stops the idle workers. */
  async close(): Promise<void> {
    clearTimeout(this.retire);
    const ws = this.idle.splice(0);
    await Promise.all(ws.map((w) => w.terminate()));
  }
}
