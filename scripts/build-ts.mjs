// Builds the TypeScript facade: CommonJS + .d.ts with tsc, then a thin ESM
// entry that re-exports the CommonJS build, so both module systems share one
// set of classes (no dual-package hazard: `instanceof` works across them).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], {
  stdio: 'inherit',
  cwd: root,
});

// lib/ imports the generated typings of the package root (`../index` from
// lib/*.ts); the emitted .d.ts files sit one level deeper, under dist/cjs/,
// so those specifiers are re-pointed at the root.
const rootIndex = join(root, 'index');
for (const rel of readdirSync(join(root, 'dist/cjs'), { recursive: true })) {
  if (!rel.endsWith('.d.ts')) continue;
  const path = join(root, 'dist/cjs', rel);
  const text = readFileSync(path, 'utf8');
  const fixed = text.replace(/(from\s+|import\()(['"])(\.\.?\/[^'"]*)\2/g, (whole, head, quote, spec) => {
    if (resolve(join(root, 'lib', dirname(rel)), spec.replace(/\.js$/, '')) !== rootIndex) return whole;
    const fromDist = relative(dirname(path), rootIndex).split(sep).join('/');
    return `${head}${quote}${fromDist}${quote}`;
  });
  if (fixed !== text) writeFileSync(path, fixed);
}

const cjs = require(join(root, 'dist/cjs/index.js'));
const names = Object.keys(cjs).filter((n) => n !== 'default' && n !== '__esModule');
mkdirSync(join(root, 'dist/esm'), { recursive: true });
writeFileSync(
  join(root, 'dist/esm/index.mjs'),
  `import cjs from '../cjs/index.js';\nexport const { ${names.join(', ')} } = cjs;\nexport default cjs;\n`,
);
writeFileSync(join(root, 'dist/esm/index.d.mts'), `export * from '../cjs/index.js';\n`);
