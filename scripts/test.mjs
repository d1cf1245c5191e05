// The whole test suite: engine tests (cargo test) and the Node tests, against
// one redis-server started here on a free port unless REDIS_URL is set; the
// Node tests twice, once on each script path.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startRedisOrExit } from './redis-server.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let server;
if (!process.env.REDIS_URL) {
  server = await startRedisOrExit();
  process.env.REDIS_URL = server.url;
}

function run(cmd, args) {
  console.log(`\n$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env: process.env });
  return r.status ?? 1;
}

let status = 0;
const only = process.argv.slice(2);
if (only.length === 0) {
  status ||= run('cargo', ['test', '--lib', '--', '--test-threads=2']);
}
const files = only.length
  ? only
  : readdirSync(join(root, '__test__'))
      .filter((f) => f.endsWith('.test.mjs'))
      .map((f) => join('__test__', f));
const nodeTests = () => run(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=120000', ...files]);
status = nodeTests() || status;
// The whole suite runs on both script paths (README "Scripts"): Functions,
// the default on this Redis, then EVALSHA, as on Redis 6.2.
if (only.length === 0 && !process.env.BULLMQ_NATIVE_SCRIPTS) {
  console.log('\n# again with BULLMQ_NATIVE_SCRIPTS=eval (the EVALSHA path)');
  process.env.BULLMQ_NATIVE_SCRIPTS = 'eval';
  status = nodeTests() || status;
  delete process.env.BULLMQ_NATIVE_SCRIPTS;
}

if (server) await server.stop();
process.exit(status);
