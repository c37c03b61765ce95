// Public API of @berth/oci-spec.
export {};
