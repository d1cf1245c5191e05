// Runs a command with REDIS_URL set: the given one, or a redis-server started
// here on a free port and stopped afterwards.
import { spawn } from 'node:child_process';

import { startRedisOrExit } from './redis-server.mjs';

const [cmd, ...args] = process.argv.slice(2);
let server;
if (!process.env.REDIS_URL) {
  server = await startRedisOrExit();
  process.env.REDIS_URL = server.url;
}
const child = spawn(cmd, args, { stdio: 'inherit', env: process.env });
const forward = (sig) => child.kill(sig);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
child.on('exit', async (code, signal) => {
  if (server) await server.stop();
  process.exit(code ?? (signal ? 1 : 0));
});
