/**
 * The engine's image resolver over @berth/layer-store's image store: reference → image config
 * and unpacked layer dirs (`$root/layers/<chainID hex>/`, topmost first).
 */
import type Database from 'better-sqlite3';
import type { ImageResolver } from './engine.js';

/** Opens the image resolver of a store. Until layer-store's image index lands, no image is found. */
export function openImages(_root: string, _db: Database.Database): ImageResolver {
  return { find: () => Promise.resolve(undefined) };
}
