// Public API of @berth/engine: the CLI, for embedding and tests.
export { main, program } from './cli/main.js';
export { type Context, defaultRoot, defaultState } from './cli/context.js';
