// Real distributed Redis deployments for the cluster and sentinel tests: a
// Redis Cluster of six redis-server processes (three masters with a replica
// each) and a Sentinel setup (a master, a replica, three sentinels), each on
// free loopback ports, with short failure-detection times so failovers take
// seconds. Everything started here is stopped (and its directory removed)
// by `stop()`, which the tests register with `after`.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import IORedis from 'ioredis';

import { freePort, startRedis } from '../../scripts/redis-server.mjs';

const run = promisify(execFile);
const cli = process.env.REDIS_CLI_BIN || 'redis-cli';

/** Milliseconds after which a silent cluster node is failed over. */
export const CLUSTER_NODE_TIMEOUT = 1000;

async function until(fn, { timeout = 20000, interval = 100, message }) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      if (await fn()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${message}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

async function redisCli(port, ...args) {
  const { stdout } = await run(cli, ['-h', '127.0.0.1', '-p', String(port), ...args]);
  return stdout;
}

/**
 * Starts a Redis Cluster: six nodes, three masters with one replica each.
 * Returns the nodes (`{ port, process }`), the startup nodes for clients,
 * `masterFor(key)` (the port of the master owning a key's slot, as the
 * cluster says now), `kill(port)` (SIGKILL) and `stop()`.
 */
export async function startCluster() {
  const nodes = [];
  const stopAll = async () => {
    await Promise.all(nodes.map((n) => n.server.stop()));
  };
  try {
    for (let i = 0; i < 6; i++) {
      const server = await startRedis([
        '--cluster-enabled', 'yes',
        '--cluster-config-file', 'nodes.conf',
        '--cluster-node-timeout', String(CLUSTER_NODE_TIMEOUT),
        // A killed master's replica must take over however far behind it is.
        '--cluster-replica-validity-factor', '0',
        // Replicas sync at once (the default waits 5 s for more replicas).
        '--repl-diskless-sync-delay', '0',
      ]);
      nodes.push({ port: server.port, process: server.process, server });
    }
    await run(cli, [
      '--cluster', 'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas', '1',
      '--cluster-yes',
    ]);
    await until(
      async () => {
        for (const n of nodes) {
          const info = await redisCli(n.port, 'CLUSTER', 'INFO');
          if (!/cluster_state:ok/.test(info) || !/cluster_slots_ok:16384/.test(info)) return false;
          // A replica that has not synced yet would take over an empty slot.
          const repl = await redisCli(n.port, 'INFO', 'replication');
          if (/role:slave/.test(repl) && !/master_link_status:up/.test(repl)) return false;
          if (/role:master/.test(repl) && !/connected_slaves:1/.test(repl)) return false;
        }
        return true;
      },
      { message: 'the cluster to be ready, every replica in sync' },
    );
  } catch (err) {
    await stopAll();
    throw err;
  }
  const startupNodes = nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  const alive = () => nodes.filter((n) => n.process.exitCode === null && n.process.signalCode === null);
  return {
    nodes,
    startupNodes,
    /** The port of the master that owns `key`'s slot. */
    async masterFor(key) {
      const slot = Number((await redisCli(alive()[0].port, 'CLUSTER', 'KEYSLOT', key)).trim());
      for (const n of alive()) {
        const lines = (await redisCli(n.port, 'CLUSTER', 'NODES')).split('\n');
        const owner = lines.find((l) => {
          const f = l.split(' ');
          if (!f[2]?.includes('master') || f[2].includes('fail')) return false;
          return f.slice(8).some((r) => {
            const [a, b] = r.split('-').map(Number);
            return slot >= a && slot <= (b ?? a);
          });
        });
        if (owner) return Number(owner.split(' ')[1].split(':')[1].split('@')[0]);
      }
      throw new Error(`no master owns the slot of ${key}`);
    },
    /**
     * Kills a node at once (SIGKILL) and waits until its process is gone.
     * Replication is asynchronous: what a master acknowledged just before
     * dying may be lost with it, in any client. So a master first waits
     * (WAIT) until its replica has what it acknowledged so far.
     */
    async kill(port) {
      await redisCli(port, 'WAIT', '1', '2000').catch(() => undefined);
      const n = nodes.find((x) => x.port === port);
      if (!n || n.process.exitCode !== null || n.process.signalCode !== null) return;
      await new Promise((resolve) => {
        n.process.once('exit', resolve);
        n.process.kill('SIGKILL');
      });
    },
    /**
     * Moves the slot of `key` from its master to another live master, the way
     * `redis-cli --cluster reshard` does (IMPORTING/MIGRATING, MIGRATE in
     * batches with a pause between them, so clients meet ASK redirects
     * meanwhile, then SETSLOT NODE everywhere). Returns `{ from, to }`.
     */
    async moveSlot(key, { batch = 20, pauseMs = 50 } = {}) {
      const slot = (await redisCli(alive()[0].port, 'CLUSTER', 'KEYSLOT', key)).trim();
      const from = await this.masterFor(key);
      const masters = [];
      for (const n of alive()) {
        if (/role:master/.test(await redisCli(n.port, 'INFO', 'replication'))) masters.push(n.port);
      }
      const to = masters.find((p) => p !== from);
      const id = async (port) => (await redisCli(port, 'CLUSTER', 'MYID')).trim();
      const [fromId, toId] = [await id(from), await id(to)];
      await redisCli(to, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId);
      await redisCli(from, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
      for (;;) {
        const keys = (await redisCli(from, 'CLUSTER', 'GETKEYSINSLOT', slot, String(batch))).split('\n').filter(Boolean);
        if (keys.length === 0) break;
        await redisCli(from, 'MIGRATE', '127.0.0.1', String(to), '', '0', '5000', 'REPLACE', 'KEYS', ...keys);
        await new Promise((r) => setTimeout(r, pauseMs));
      }
      for (const port of [to, from, ...masters.filter((p) => p !== to && p !== from)]) {
        await redisCli(port, 'CLUSTER', 'SETSLOT', slot, 'NODE', toId);
      }
      return { from, to };
    },
    /** Waits until every live node sees all slots served again. */
    async waitHealthy(timeout = 30000) {
      await until(
        async () => {
          for (const n of alive()) {
            const info = await redisCli(n.port, 'CLUSTER', 'INFO');
            if (!/cluster_state:ok/.test(info)) return false;
          }
          return true;
        },
        { timeout, message: 'the cluster to be healthy again' },
      );
    },
    /** An ioredis Cluster client (for the official bullmq, or inspection). */
    ioredis(options = {}) {
      return new IORedis.Cluster(startupNodes, { redisOptions: { maxRetriesPerRequest: null }, ...options });
    },
    stop: stopAll,
  };
}

/** The Sentinel service name the tests use. */
export const SENTINEL_NAME = 'bullmqnative';

function startSentinel(port, masterPort, dir) {
  const conf = join(dir, `sentinel-${port}.conf`);
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${masterPort} 2`,
      `sentinel down-after-milliseconds ${SENTINEL_NAME} 1000`,
      `sentinel failover-timeout ${SENTINEL_NAME} 3000`,
      `sentinel parallel-syncs ${SENTINEL_NAME} 1`,
      '',
    ].join('\n'),
  );
  const bin = process.env.REDIS_SERVER_BIN || 'redis-server';
  const child = spawn(bin, [conf, '--sentinel'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGTERM');
    });
  return { port, process: child, stop };
}

/**
 * Starts a master, one replica and three sentinels watching them (quorum 2,
 * down after 1 s). Returns `{ name, sentinels, master, replica, kill,
 * currentMaster, stop }`.
 */
export async function startSentinels() {
  const dir = mkdtempSync(join(tmpdir(), 'bullmq-native-sentinel-'));
  const servers = [];
  const sentinels = [];
  const stop = async () => {
    await Promise.all([...servers, ...sentinels].map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const master = await startRedis(['--repl-diskless-sync-delay', '0']);
    servers.push(master);
    const replica = await startRedis(['--replicaof', '127.0.0.1', String(master.port)]);
    servers.push(replica);
    await until(async () => /master_link_status:up/.test(await redisCli(replica.port, 'INFO', 'replication')), {
      message: 'the replica to sync',
    });
    for (let i = 0; i < 3; i++) sentinels.push(startSentinel(await freePort(), master.port, dir));
    await until(
      async () => {
        for (const s of sentinels) {
          const out = await redisCli(s.port, 'SENTINEL', 'REPLICAS', SENTINEL_NAME);
          if (!out.includes(String(replica.port))) return false;
          const others = await redisCli(s.port, 'SENTINEL', 'SENTINELS', SENTINEL_NAME);
          if ((others.match(/^name$/gm) ?? []).length < 2) return false;
        }
        return true;
      },
      { timeout: 30000, message: 'the sentinels to see the replica and each other' },
    );
    const currentMaster = async () => {
      const out = (await redisCli(sentinels[0].port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_NAME)).split('\n');
      return Number(out[1]);
    };
    return {
      name: SENTINEL_NAME,
      sentinels: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
      master,
      replica,
      currentMaster,
      /** Kills the master at once (after its replica caught up, see the cluster's kill). */
      async killMaster() {
        await redisCli(master.port, 'WAIT', '1', '2000').catch(() => undefined);
        await new Promise((resolve) => {
          if (master.process.exitCode !== null) return resolve();
          master.process.once('exit', resolve);
          master.process.kill('SIGKILL');
        });
      },
      /** Waits until the sentinels name the replica as the master. */
      async waitPromoted(timeout = 30000) {
        await until(async () => (await currentMaster()) === replica.port, {
          timeout,
          message: 'the sentinels to promote the replica',
        });
        await until(async () => /role:master/.test(await redisCli(replica.port, 'INFO', 'replication')), {
          timeout,
          message: 'the replica to become master',
        });
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
