// Public API of @berth/reference.
export {};
