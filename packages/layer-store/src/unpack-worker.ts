/**
 * The worker side of {@link UnpackPool}: a `worker_thread` that unpacks layers
 * with its own `LinuxSys`, so that gunzip, the diffID hash, tar parsing and the file-system calls
 * of a layer run beside the main thread (and beside the other layers' workers) instead of on it.
 * Several layers may be unpacked at once, each by its own `unpackLayer`, interleaved at the
 * chunks. The protocol is drawn in unpack-pool.ts.
 */
import { parentPort } from 'node:worker_threads';
import { LinuxSys } from '@berth/native';
import { unpackLayer } from './unpack.js';
import { ChunkQueue } from './chunk-queue.js';
import { deserializeError, serializeError, type ToMain, type ToWorker } from './unpack-pool.js';

const port = parentPort;
if (port === null) throw new Error('unpack-worker.ts runs only as a worker_thread (see unpack-pool.ts)');
const sys = new LinuxSys();
/** The sources of the layers being unpacked, by id; each consumed chunk is acknowledged (backpressure). */
const feeds = new Map<number, ChunkQueue>();
const post = (m: ToMain): void => port.postMessage(m);

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'start': {
      const { id } = m;
      const f = new ChunkQueue((n) => post({ type: 'ack', id, bytes: n }));
      feeds.set(id, f);
      unpackLayer(sys, f, m.dir, { ...(m.expectedDiffID === undefined ? {} : { expectedDiffID: m.expectedDiffID }), hashSource: m.hashSource })
        .then((result) => post({ type: 'done', id, result }), (e: unknown) => post({ type: 'error', id, error: serializeError(e) }))
        .finally(() => feeds.delete(id));
      break;
    }
    case 'data':
      feeds.get(m.id)?.push(new Uint8Array(m.chunk));
      break;
    case 'end':
      feeds.get(m.id)?.end();
      break;
    case 'abort':
      feeds.get(m.id)?.fail(deserializeError(m.error));
      break;
  }
});
