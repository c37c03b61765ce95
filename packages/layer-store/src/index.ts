// Public API of @berth/layer-store.
export {};
