// Starts a throwaway redis-server on a free loopback port (no persistence)
// and returns its URL and a stop function. Used by the test runner, the demo,
// the benchmark and by test files run on their own. Where no redis-server is
// installed, those stop with one short message saying how to get a Redis
// (startRedisOrExit) instead of a spawn ENOENT stack trace.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A TCP port free on the loopback interface right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Thrown by startRedis when the redis-server binary is not there. */
export class RedisServerNotFound extends Error {
  constructor(bin) {
    const named = process.env.REDIS_SERVER_BIN
      ? `REDIS_SERVER_BIN=${bin} is not an executable`
      : 'there is no `redis-server` on the PATH to start one';
    super(
      [
        `This command needs a Redis server, and ${named}. Either:`,
        '  - point REDIS_URL at a running Redis, e.g. REDIS_URL=redis://127.0.0.1:6379 npm test',
        "  - install your distribution's package: sudo apt-get install redis-server (Debian, Ubuntu), apk add redis (Alpine)",
        '  - on macOS, with Homebrew: brew install redis',
        '  - or run one in a container: docker run -d -p 6379:6379 redis:7, then set REDIS_URL as above',
      ].join('\n'),
    );
    this.name = 'RedisServerNotFound';
  }
}

/**
 * startRedis, except that a missing redis-server ends the process with the
 * RedisServerNotFound message alone on stderr and exit code 1.
 */
export async function startRedisOrExit(extraArgs = [], options = {}) {
  try {
    return await startRedis(extraArgs, options);
  } catch (err) {
    if (!(err instanceof RedisServerNotFound)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}

function ping(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      sock.destroy();
      // A server with requirepass answers NOAUTH: it is up all the same.
      resolve(/^(\+PONG|-NOAUTH)/.test(d.toString()));
    });
    sock.on('error', () => resolve(false));
  });
}

// `port`: listen there (e.g. to restart a server on the port it had);
// `dir`: the working directory (kept on stop when given, e.g. for a dump).
export async function startRedis(extraArgs = [], options = {}) {
  const port = options.port ?? (await freePort());
  const ownDir = !options.dir;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'bullmq-native-redis-'));
  const bin = process.env.REDIS_SERVER_BIN || 'redis-server';
  const child = spawn(
    bin,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  await new Promise((resolve, reject) => {
    child.once('error', (err) =>
      reject(
        err.code === 'ENOENT' || err.code === 'EACCES'
          ? new RedisServerNotFound(bin)
          : new Error(`could not start ${bin}: ${err.message}`),
      ),
    );
    const deadline = Date.now() + 10000;
    const tick = async () => {
      if (exited) return reject(new Error(`${bin} exited at start`));
      if (await ping(port)) return resolve();
      if (Date.now() > deadline) return reject(new Error(`${bin} did not answer on port ${port}`));
      setTimeout(tick, 50);
    };
    tick();
  });
  const stop = () =>
    new Promise((resolve) => {
      const cleanup = () => {
        if (ownDir) rmSync(dir, { recursive: true, force: true });
        resolve();
      };
      if (exited) return cleanup();
      child.once('exit', cleanup);
      child.kill('SIGTERM');
    });
  return { url: `redis://127.0.0.1:${port}`, port, stop, process: child };
}
