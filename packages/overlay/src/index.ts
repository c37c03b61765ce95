// Public API of @berth/overlay.
export {};
