/**
 * The worker side of {@link UnpackPool}: a `worker_thread` that unpacks layers, one at a time,
 * with its own `LinuxSys`, so that gunzip, the diffID hash, tar parsing and the file-system calls
 * of a layer run beside the main thread (and beside the other layers' workers) instead of on it.
 * The protocol is drawn in unpack-pool.ts.
 */
import { parentPort } from 'node:worker_threads';
import { LinuxSys } from '@berth/native';
import { unpackLayer } from './unpack.js';
import { ChunkQueue } from './chunk-queue.js';
import { deserializeError, serializeError, type ToMain, type ToWorker } from './unpack-pool.js';

const port = parentPort;
if (port === null) throw new Error('unpack-worker.ts runs only as a worker_thread (see unpack-pool.ts)');
const sys = new LinuxSys();
/** The source of the layer being unpacked; each consumed chunk is acknowledged (backpressure). */
let feed: ChunkQueue | undefined;
const post = (m: ToMain): void => port.postMessage(m);

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'start': {
      const f = new ChunkQueue((n) => post({ type: 'ack', bytes: n }));
      feed = f;
      unpackLayer(sys, f, m.dir, { ...(m.expectedDiffID === undefined ? {} : { expectedDiffID: m.expectedDiffID }), hashSource: m.hashSource })
        .then((result) => post({ type: 'done', result }), (e: unknown) => post({ type: 'error', error: serializeError(e) }))
        .finally(() => { if (feed === f) feed = undefined; });
      break;
    }
    case 'data':
      feed?.push(new Uint8Array(m.chunk));
      break;
    case 'end':
      feed?.end();
      break;
    case 'abort':
      feed?.fail(deserializeError(m.error));
      break;
  }
});
