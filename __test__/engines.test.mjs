// No npm engine warning (EBADENGINE) on any Node version we promise: every
// package the lockfile installs accepts every version of package.json's
// engines.node, so `npm install` on Node 20.19+, 22.13+ or 24+ prints none.
// The overrides in package.json pin the transitive packages that wanted more.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import semver from 'semver';

import { root } from '../scripts/platforms.mjs';

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
const promised = pkg.engines.node;

test('every locked package accepts every Node version package.json promises', () => {
  const narrower = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    const wanted = entry.engines?.node;
    if (typeof wanted === 'string' && !semver.subset(promised, wanted)) narrower.push(`${path} wants ${wanted}`);
  }
  assert.deepEqual(narrower, [], `these would warn on a Node that "${promised}" allows`);
});

test('the promise covers the Node versions the release workflow tests and this one', () => {
  for (const v of ['20.19.0', '22.13.0', '24.0.0', process.versions.node]) {
    assert.ok(semver.satisfies(v, promised), `${v} is outside "${promised}"`);
  }
  assert.equal(lock.packages[''].engines.node, promised, 'package-lock.json is stale');
});
