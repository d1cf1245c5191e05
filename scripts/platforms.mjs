// The platforms we ship: one npm package per target of package.json's
// `napi.targets` (the single list; napi-rs's CLI names the packages). Run as a
// script, it makes the root package's optionalDependencies list exactly those
// packages at the root's version, as `napi pre-publish` would at release time,
// so a checkout and the published package agree. Runs after `napi version` on
// `npm version` (see package.json).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { readNapiConfig } from '@napi-rs/cli';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** `{ triple, platformArchABI, platform, arch, abi, packageName, npmDir }` for each target. */
export async function platformTargets(dir = root) {
  const { targets, packageName } = await readNapiConfig(join(dir, 'package.json'));
  return targets.map((t) => ({
    ...t,
    packageName: `${packageName}-${t.platformArchABI}`,
    npmDir: join(dir, 'npm', t.platformArchABI),
  }));
}

/** The optionalDependencies the root package must have (sorted, as npm writes them). */
export async function expectedOptionalDependencies(dir = root) {
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const names = (await platformTargets(dir)).map((t) => t.packageName).sort();
  return Object.fromEntries(names.map((name) => [name, version]));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const path = join(root, 'package.json');
  const text = readFileSync(path, 'utf8');
  const pkg = JSON.parse(text);
  pkg.optionalDependencies = await expectedOptionalDependencies();
  const next = `${JSON.stringify(pkg, null, 2)}\n`;
  if (next !== text) {
    writeFileSync(path, next);
    console.log('package.json: optionalDependencies follow napi.targets');
  }
}
