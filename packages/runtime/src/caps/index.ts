// Capability sets: names, numbers, Docker's default set and --cap-add/--cap-drop.
export {
  allCapabilities,
  applyCapChanges,
  capName,
  capNumber,
  defaultCapabilities,
  normalizeCapability,
  ociCapabilities,
  type Capability,
  type OciCapabilities,
} from './caps.js';
