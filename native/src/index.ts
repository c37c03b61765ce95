// Public API of @berth/native.
export {};
