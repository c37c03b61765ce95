/**
 * Byte chunks handed from a producer that pushes (a response body, a worker's messages) to a
 * consumer that reads with `for await`, in order and without copies. `onRelease(n)` reports the
 * bytes that left the queue (taken by the reader, or dropped by `fail`): what a producer needs
 * for backpressure. A reader that stops early (done, failed, gave up) drops the rest.
 */
export class ChunkQueue implements AsyncIterable<Uint8Array> {
  /** Bytes pushed and neither taken nor dropped. */
  bytes = 0;
  private readonly queue: Uint8Array[] = [];
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly onRelease: (bytes: number) => void = () => undefined) {}

  push(c: Uint8Array): void {
    if (this.error !== undefined || this.ended) return;
    this.queue.push(c);
    this.bytes += c.length;
    this.poke();
  }

  end(): void {
    this.ended = true;
    this.poke();
  }

  /** The reader gets `e` at its next read; what is queued is dropped. */
  fail(e: Error): void {
    if (this.error !== undefined) return;
    this.error = e;
    const dropped = this.bytes;
    this.queue.length = 0;
    this.bytes = 0;
    this.poke();
    this.onRelease(dropped);
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        if (this.error !== undefined) throw this.error;
        const c = this.queue.shift();
        if (c !== undefined) {
          this.bytes -= c.length;
          this.onRelease(c.length);
          yield c;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((r) => { this.wake = r; });
      }
    } finally {
      if (this.error === undefined && !(this.ended && this.queue.length === 0)) this.fail(new Error('the reader of this data stopped'));
    }
  }
}
