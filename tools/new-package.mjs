#!/usr/bin/env node
// Scaffold a workspace package: node tools/new-package.mjs <folder> "<one-line description>"
// Writes package.json, tsconfig.json (typecheck incl. tests), tsconfig.build.json (emit dist/),
// src/index.ts and a README stub. Refuses to overwrite an existing package.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [folder, description = ''] = process.argv.slice(2);
if (!folder || !/^[a-z][a-z0-9-]*$/.test(folder)) {
  console.error('usage: node tools/new-package.mjs <folder> "<description>"');
  process.exit(2);
}
const dir = join('packages', folder);
if (existsSync(join(dir, 'package.json'))) {
  console.error(`${dir} already exists`);
  process.exit(1);
}
mkdirSync(join(dir, 'src'), { recursive: true });
const pkg = {
  name: `@berth/${folder}`,
  version: '0.1.0',
  description,
  license: 'Apache-2.0',
  type: 'module',
  exports: {
    '.': {
      'berth-source': './src/index.ts',
      types: './dist/index.d.ts',
      default: './dist/index.js',
    },
  },
  files: ['dist', '!dist/**/*.test.*', 'README.md'],
  scripts: {
    build: 'tsc -p tsconfig.build.json',
    lint: 'tsc -p tsconfig.json --noEmit',
    test: 'node ../../tools/test/run.mjs .',
  },
  dependencies: {},
};
const w = (f, s) => writeFileSync(join(dir, f), s);
w('package.json', JSON.stringify(pkg, null, 2) + '\n');
w('tsconfig.json', JSON.stringify({
  extends: '../../tsconfig.base.json',
  compilerOptions: { noEmit: true, customConditions: ['berth-source'] },
  include: ['src'],
}, null, 2) + '\n');
w('tsconfig.build.json', JSON.stringify({
  extends: '../../tsconfig.base.json',
  compilerOptions: { outDir: 'dist', rootDir: 'src' },
  include: ['src'],
  exclude: ['src/**/*.test.ts'],
}, null, 2) + '\n');
if (!existsSync(join(dir, 'src/index.ts'))) w('src/index.ts', `// Public API of @berth/${folder}.\nexport {};\n`);
if (!existsSync(join(dir, 'README.md'))) w('README.md', `# @berth/${folder}\n\n${description}\n`);
console.log(`created ${dir}`);
