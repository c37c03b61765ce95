/**
 * Public API of @berth/registry: a distribution-spec client (auth, TLS, retries) and pull/push
 * of images between a registry and a @berth/layer-store Store, with progress events.
 *
 *   const r = await pullImage(store, '127.0.0.1:5000/busybox:latest', { onProgress: console.log });
 *   r.id;                                   // sha256:… the image ID (config digest)
 *   await pushImage(store, '127.0.0.1:5000/busybox:latest');
 */
export {
  loadRegistryConfig, credentialsFor, saveCredentials, removeCredentials, caFor, isInsecure, dockerHub,
  type RegistryConfig, type RegistryConfigOptions, type Credentials,
} from './config.js';
export { RegistryClient, parseChallenge, repoScope, isTransient, type Response, type RequestOptions, type Body } from './client.js';
export { Registries } from './registries.js';
export {
  pullImage, parsePullRef, fetchManifest, pullSummary, listTags, withRetries, maxManifestBytes,
  type PullOptions, type PullResult, type PullEvent, type PullRef,
} from './pull.js';
export { pushImage, pushAllTags, localTags, pushBlob, type PushOptions, type PushResult, type PushEvent } from './push.js';
