/**
 * The engine's image resolver over @berth/layer-store: reference → image config and the
 * unpacked layer dirs (`$root/layers/<chainID hex>/`, topmost first). Layers not unpacked yet
 * (a store loaded without a kernel door) are unpacked on first use.
 */
import { FileBlobStore, ImageStore, LayerStore, chainIDs, parseDigest, familiar, type DB, type Digest, type UnpackSys } from '@berth/layer-store';
import { notFound } from '@berth/errors';
import type { ImageResolver, RunnableImage } from './engine.js';
import type { ImageRunConfig } from './spec.js';
import { ContainerStore } from './store.js';

/**
 * Tells an image store which containers use which images (the containers table of its db), so
 * that rmi, prune and GC never take an image a container runs from, wherever the engine opens it.
 */
export function setContainerUsers(images: ImageStore, db: DB): ImageStore {
  let containers: ContainerStore<unknown> | undefined;
  const list = () => (containers ??= new ContainerStore(db, (j) => j)).list();
  images.setUsers({
    containersUsing: (id) => list().filter((c) => c.imageId === id).map((c) => c.id.slice(0, 12)),
    imagesInUse: () => list().map((c) => c.imageId as Digest),
  });
  return images;
}

/** The image store of a root, sharing the engine's berth.db, with the containers as its users. */
export function openImageStore(root: string, db: DB): ImageStore {
  return setContainerUsers(new ImageStore(db, new FileBlobStore(root)), db);
}

/** Opens the image resolver of a store; `pull` (when given) fetches an image into the store. */
export function openImages(root: string, db: DB, sys: () => UnpackSys, pull?: (ref: string, signal?: AbortSignal) => Promise<void>, images: ImageStore = openImageStore(root, db)): ImageResolver {
  const resolver: ImageResolver = {
    async find(ref: string): Promise<RunnableImage | undefined> {
      const rec = images.find(ref);
      if (!rec) return undefined;
      const cfg = images.config(rec.id);
      const chains = chainIDs(cfg.rootfs.diff_ids.map((d) => parseDigest(d)));
      let layers = new LayerStore(root, undefined);
      if (!chains.every((c) => layers.has(c))) {
        layers = new LayerStore(root, sys());
        for (const [i, l] of rec.layers.entries()) {
          const chain = chains[i] as Digest;
          if (!layers.has(chain)) await layers.unpack(chain, images.blobs.open(l.blob), { expectedDiffID: l.diffID });
        }
      }
      const name = rec.tags.find((t) => familiar(t) === ref || familiar(t) === `${ref}:latest`) ?? rec.tags[0];
      return {
        id: rec.id,
        name: name === undefined ? ref : familiar(name),
        config: (cfg.config ?? {}) as ImageRunConfig,
        lowerDirs: chains.map((c) => layers.path(c)).reverse(),
      };
    },
    ...(pull === undefined ? {} : {
      pull: async (ref: string, signal?: AbortSignal): Promise<RunnableImage> => {
        await pull(ref, signal);
        const found = await resolver.find(ref);
        if (!found) throw notFound(`image "${ref}" was pulled but is not in the store: run berth system check`);
        return found;
      },
    }),
  };
  return resolver;
}
