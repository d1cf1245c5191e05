// The `connection` option as BullMQ users pass it (options, URL, ioredis
// instance), credentials, db selection, failures that name the address, and
// recovery from lost connections. Tests that kill clients or stop servers
// use a redis-server of their own, never the shared one.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { Queue as OfficialQueue } from 'bullmq';
import IORedis from 'ioredis';

import { FlowProducer, Queue, QueueEvents, Worker } from 'bullmq-native';

import { freePort, startRedis } from '../scripts/redis-server.mjs';
import { connection, queueName, rawClient, redisUrl, waitFor } from './support/redis.mjs';

const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});
const closeLater = (...objs) => cleanups.push(...objs.map((o) => () => o.close()));

async function ownServer(args = [], options = {}) {
  const server = await startRedis(args, options);
  cleanups.push(() => server.stop());
  return server;
}

function ioredis(urlOrOpts, opts = {}) {
  const client = new IORedis(urlOrOpts, { maxRetriesPerRequest: null, ...opts });
  client.on('error', () => undefined);
  cleanups.push(() => client.quit().catch(() => client.disconnect()));
  return client;
}

// Unhandled rejections would crash a user's process: record them all.
const unhandled = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

/** Adds one job and processes it with a manual worker; returns the job id. */
async function roundTrip(conn, { prefix } = {}) {
  const name = queueName('rt');
  const queue = new Queue(name, { connection: conn, prefix });
  const worker = new Worker(name, null, { connection: conn, prefix });
  closeLater(queue, worker);
  await queue.waitUntilReady();
  await worker.waitUntilReady();
  const added = await queue.add('job', { n: 1 });
  const job = await worker.getNextJob('tok');
  assert.equal(job?.id, added.id);
  assert.deepEqual(job.data, { n: 1 });
  await job.moveToCompleted('ok', 'tok', false);
  return { name, id: added.id };
}

/** Resolves with the rejection of `fn()` and the `error` events of `obj`. */
async function failure(obj) {
  const events = [];
  obj.on('error', (err) => events.push(err));
  const err = await obj.waitUntilReady().then(
    () => assert.fail('waitUntilReady resolved'),
    (e) => e,
  );
  await waitFor(() => events.length > 0, { message: 'an error event' });
  return { err, events };
}

test('options object: host and port', async () => {
  const conn = await connection();
  const { name, id } = await roundTrip(conn);
  const raw = await rawClient();
  assert.equal(await raw.hget(`bull:${name}:${id}`, 'returnvalue'), '"ok"');
});

test('a redis:// URL string', async () => {
  const url = await redisUrl();
  const { name, id } = await roundTrip(`${url}/0`);
  const raw = await rawClient();
  assert.equal(await raw.hget(`bull:${name}:${id}`, 'name'), 'job');
});

test('db selection: jobs land in the chosen db, the blocking wait too', async () => {
  const conn = { ...(await connection()), db: 3 };
  const name = queueName('db');
  const queue = new Queue(name, { connection: conn });
  const worker = new Worker(name, null, { connection: conn, drainDelay: 60 });
  closeLater(queue, worker);
  assert.equal(await worker.getNextJob('t', { block: false }), undefined);
  // Blocks on the marker of db 3: only an add in db 3 wakes it before 60 s.
  const pending = worker.getNextJob('t');
  const db3 = ioredis(await redisUrl(), { db: 3 });
  await waitFor(async () => (await db3.client('LIST')).includes('cmd=bzpopmin'), { message: 'the blocked worker' });
  const job = await queue.add('x', { v: 3 });
  assert.equal((await pending)?.id, job.id);
  assert.equal(await db3.hget(`bull:${name}:${job.id}`, 'name'), 'x');
  const db0 = await rawClient();
  assert.equal(await db0.exists(`bull:${name}:${job.id}`), 0);
});

test('db selection through a URL path', async () => {
  const url = await redisUrl();
  const { name, id } = await roundTrip(`${url}/5`);
  const db5 = ioredis(`${url}/5`);
  assert.equal(await db5.hget(`bull:${name}:${id}`, 'returnvalue'), '"ok"');
  assert.equal(await (await rawClient()).exists(`bull:${name}:${id}`), 0);
});

test('an ioredis instance: its options are read, our own connections are used', async () => {
  const url = await redisUrl();
  const client = ioredis(`${url}/2`, { lazyConnect: true });
  const { name, id } = await roundTrip(client);
  assert.equal(client.status, 'wait', 'the instance itself was not connected');
  const db2 = ioredis(`${url}/2`);
  assert.equal(await db2.hget(`bull:${name}:${id}`, 'returnvalue'), '"ok"');
});

test('an ioredis instance with keyPrefix is refused as BullMQ refuses it', async () => {
  const client = ioredis(await redisUrl(), { lazyConnect: true, keyPrefix: 'x:' });
  assert.throws(() => new Queue(queueName(), { connection: client }), {
    message: 'BullMQ: ioredis does not support ioredis prefixes, use the prefix option instead.',
  });
});

test('prefix defaults to bull and can be changed', async () => {
  const conn = await connection();
  const { name, id } = await roundTrip(conn, { prefix: 'myprefix' });
  const raw = await rawClient();
  assert.equal(await raw.hget(`myprefix:${name}:${id}`, 'returnvalue'), '"ok"');
  assert.equal(await raw.exists(`bull:${name}:${id}`), 0);
});

test('bad connection input is a TypeError at construction', () => {
  const cases = [
    { port: 'abc' },
    { port: 70000 },
    { db: -1 },
    { db: 1.5 },
    { connectTimeout: -5 },
    { tls: { cert: 'x' } },
    { path: '/tmp/redis.sock' },
    { sentinels: [], name: 'mymaster' },
    { sentinels: [{ host: 'localhost', port: 'x' }], name: 'mymaster' },
    { cluster: { nodes: [] } },
    { cluster: { nodes: [{ host: 'localhost', port: 0 }] } },
    { cluster: { nodes: [7000], options: { redisOptions: { db: 1 } } } },
    'http://localhost:6379',
    'redis://',
    42,
  ];
  for (const c of cases) {
    assert.throws(() => new Queue('q', { connection: c }), TypeError, JSON.stringify(c));
  }
});

test('password: requirepass server, right and wrong password', async () => {
  const server = await ownServer(['--requirepass', 's3cret:/@x']);
  const host = '127.0.0.1';
  await roundTrip({ host, port: server.port, password: 's3cret:/@x' });
  await roundTrip(`redis://:${encodeURIComponent('s3cret:/@x')}@${host}:${server.port}`);
  await roundTrip(ioredis({ host, port: server.port, password: 's3cret:/@x', lazyConnect: true }));

  for (const conn of [{ host, port: server.port, password: 'wrong' }, { host, port: server.port }]) {
    // Listeners are attached right after construction, as users do.
    for (const make of [() => new Queue(queueName(), { connection: conn }), () => new Worker(queueName(), null, { connection: conn })]) {
      const obj = make();
      const { err, events } = await failure(obj);
      assert.match(err.message, new RegExp(`^Could not connect to Redis at ${host}:${server.port}: `));
      assert.match(err.message, /authentication failed|NOAUTH/i);
      assert.equal(events[0].message, err.message);
      await assert.rejects(obj instanceof Queue ? obj.add('x', {}) : obj.getNextJob('t'), { message: err.message });
      await obj.close();
    }
  }
});

test('username and password: an ACL user', async () => {
  const server = await ownServer(['--user', 'alice', 'on', '>wonder', '~*', '&*', '+@all']);
  const conn = { host: '127.0.0.1', port: server.port, username: 'alice', password: 'wonder' };
  const name = queueName('acl');
  const worker = new Worker(name, null, { connection: conn, name: 'acl-worker' });
  closeLater(worker);
  await worker.waitUntilReady();
  const admin = ioredis(server.url);
  const list = await admin.client('LIST');
  const line = list.split('\n').find((l) => l.includes(`name=bull:${Buffer.from(name).toString('base64')}:w:acl-worker`));
  assert.ok(line, list);
  assert.match(line, / user=alice /);
  await roundTrip(`redis://alice:wonder@127.0.0.1:${server.port}`);

  const bad = new Queue(queueName(), { connection: { ...conn, password: 'nope' } });
  const { err } = await failure(bad);
  assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${server.port}: .*authentication failed`, "i"));
  await bad.close();
});

test('unreachable port: waitUntilReady rejects naming the address, error event, no crash', async () => {
  const port = await freePort();
  const conn = { host: 'localhost', port };
  for (const make of [() => new Queue(queueName(), { connection: conn }), () => new Worker(queueName(), null, { connection: conn })]) {
    const obj = make();
    const { err, events } = await failure(obj);
    assert.match(err.message, new RegExp(`^Could not connect to Redis at 127\\.0\\.0\\.1:${port}: `));
    assert.equal(events[0].message, err.message);
    await obj.close();
  }
  // Without an error listener and without awaiting, nothing may go unhandled.
  const silent = new Queue(queueName(), { connection: `redis://127.0.0.1:${port}` });
  await silent.waitUntilReady().catch(() => undefined);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(unhandled, []);
});

/** Waits until the server lists a client with this name blocked (flag b) in BZPOPMIN. */
async function blockedClient(admin, clientName) {
  let list = '';
  const find = async () => {
    list = await admin.client('LIST');
    return list
      .split('\n')
      .find((l) => l.includes(` name=${clientName} `) && / flags=\w*b/.test(l) && l.includes('cmd=bzpopmin'));
  };
  return waitFor(find, { message: `a blocked client named ${clientName}` }).catch((err) => {
    err.message += `\n${list}`;
    throw err;
  });
}

test('killed connections: commands and a blocked getNextJob recover, no job is lost', async () => {
  const server = await ownServer();
  const admin = ioredis(server.url);
  const conn = { host: '127.0.0.1', port: server.port };
  const name = queueName('kill');
  const clientName = `bull:${Buffer.from(name).toString('base64')}:w:killme`;
  const queue = new Queue(name, { connection: conn });
  const worker = new Worker(name, null, { connection: conn, name: 'killme', drainDelay: 60 });
  closeLater(queue, worker);

  await queue.add('a', { n: 1 });
  const a = await worker.getNextJob('tok');
  assert.equal(a.name, 'a');
  assert.ok((await admin.client('KILL', 'TYPE', 'normal')) >= 2, 'our connections were killed');
  // The first commands after the kill succeed on a new connection.
  await a.moveToCompleted('done-a', 'tok', false);
  await queue.add('b', { n: 2 });
  const b = await worker.getNextJob('tok');
  assert.equal(b?.name, 'b');
  await b.moveToCompleted('done-b', 'tok', false);

  // A getNextJob blocked on the marker when its connection dies keeps
  // waiting on a new one, and gets the next job.
  assert.equal(await worker.getNextJob('tok', { block: false }), undefined);
  // No stale wake-up marker: the next call really blocks.
  await admin.del(`bull:${name}:marker`);
  const pending = worker.getNextJob('tok');
  const before = await blockedClient(admin, clientName);
  await admin.client('KILL', 'TYPE', 'normal');
  const afterKill = await blockedClient(admin, clientName);
  const clientId = (line) => /^id=(\d+) /.exec(line)?.[1];
  assert.ok(clientId(before));
  assert.notEqual(clientId(afterKill), clientId(before), 'a new blocking connection');
  await queue.add('c', { n: 3 });
  const c = await pending;
  assert.equal(c?.name, 'c');
  await c.moveToCompleted('done-c', 'tok', false);
  assert.deepEqual((await admin.zrange(`bull:${name}:completed`, 0, -1)).sort(), [a.id, b.id, c.id].sort());
  assert.equal(await admin.llen(`bull:${name}:active`), 0);
});

test('a restarted server: a pending add waits for it, queued jobs survive', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bullmq-native-restart-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  let server = await ownServer([], { dir });
  const port = server.port;
  const conn = { host: '127.0.0.1', port };
  const name = queueName('restart');
  const queue = new Queue(name, { connection: conn });
  const worker = new Worker(name, null, { connection: conn, drainDelay: 60 });
  closeLater(queue, worker);
  await queue.addBulk([
    { name: 'one', data: {} },
    { name: 'two', data: {} },
  ]);
  const one = await worker.getNextJob('tok');
  assert.equal(one.name, 'one');
  const admin = new IORedis(server.url, { lazyConnect: true });
  await admin.save();
  admin.disconnect();
  await server.stop();

  const during = queue.add('during', {});
  const finishOne = one.moveToCompleted('r1', 'tok', false);
  server = await ownServer([], { dir, port });
  assert.equal((await during).name, 'during');
  await finishOne;
  const names = [];
  for (;;) {
    const job = await worker.getNextJob('tok', { block: false });
    if (!job) break;
    names.push(job.name);
    await job.moveToCompleted('r', 'tok', false);
  }
  assert.deepEqual(names, ['two', 'during']);
  const check = ioredis(server.url);
  assert.equal(await check.zcard(`bull:${name}:completed`), 3);
});

test('a server that goes away: calls fail with the address instead of hanging', async () => {
  const server = await ownServer();
  const conn = { host: '127.0.0.1', port: server.port };
  const name = queueName('gone');
  const queue = new Queue(name, { connection: conn });
  const worker = new Worker(name, null, { connection: conn, drainDelay: 1 });
  closeLater(queue, worker);
  await queue.waitUntilReady();
  assert.equal(await worker.getNextJob('t', { block: false }), undefined);
  await server.stop();
  const pattern = new RegExp(`127\\.0\\.0\\.1:${server.port}`);
  await Promise.all([
    assert.rejects(queue.add('x', {}), pattern),
    assert.rejects(worker.getNextJob('t'), pattern),
  ]);
});

test('the official Queue#getWorkers lists our workers by BullMQ client names', async () => {
  const conn = await connection();
  const name = queueName('workers');
  const official = new OfficialQueue(name, { connection: conn });
  const unnamed = new Worker(name, null, { connection: conn });
  const named = new Worker(name, null, { connection: conn, name: 'w1' });
  const prefixed = new Worker(name, null, { connection: conn, prefix: 'other' });
  closeLater(official, unnamed, named, prefixed);
  await Promise.all([unnamed, named, prefixed].map((w) => w.waitUntilReady()));
  const b64 = Buffer.from(name).toString('base64');
  const rawNames = (await official.getWorkers()).map((w) => w.rawname).sort();
  assert.deepEqual(rawNames, [`bull:${b64}`, `bull:${b64}:w:w1`]);
  const otherQueue = new OfficialQueue(name, { connection: conn, prefix: 'other' });
  closeLater(otherQueue);
  assert.deepEqual((await otherQueue.getWorkers()).map((w) => w.rawname), [`other:${b64}`]);
  await named.close();
  await waitFor(async () => (await official.getWorkersCount()) === 1, { message: 'the closed worker to go' });
});

// TLS with certificates made for the test (redis-server here is built with TLS).
function makeCerts(dir) {
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=test-ca');
  for (const who of ['server', 'client']) {
    run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who}`);
    const ext = join(dir, `${who}.ext`);
    execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ${ext}`]);
    run('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.crt`, '-days', '2', '-extfile', ext);
  }
  const read = (f) => readFileSync(join(dir, f), 'utf8');
  return { ca: read('ca.crt'), cert: read('client.crt'), key: read('client.key') };
}

test('TLS: rediss, ca, rejectUnauthorized false, client certificates', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bullmq-native-tls-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const certs = makeCerts(dir);
  const tlsPort = await freePort();
  const tlsArgs = (authClients) => [
    '--tls-port', String(tlsPort),
    '--tls-cert-file', join(dir, 'server.crt'),
    '--tls-key-file', join(dir, 'server.key'),
    '--tls-ca-cert-file', join(dir, 'ca.crt'),
    '--tls-auth-clients', authClients,
  ];
  let server = await ownServer(tlsArgs('no'));
  const host = '127.0.0.1';
  const base = { host, port: tlsPort };

  await roundTrip({ ...base, tls: { ca: certs.ca } });
  await roundTrip({ ...base, tls: { ca: Buffer.from(certs.ca) } });
  await roundTrip({ ...base, tls: { rejectUnauthorized: false } });
  await roundTrip({ host: 'localhost', port: tlsPort, tls: { ca: [certs.ca] } });
  // An ioredis instance made from a rediss:// URL carries `tls`.
  await roundTrip(ioredis(`rediss://${host}:${tlsPort}`, { lazyConnect: true, tls: { ca: certs.ca } }));

  // Verification is on by default: the test CA is not a system root.
  for (const conn of [{ ...base, tls: {} }, `rediss://${host}:${tlsPort}`, { ...base, tls: true }]) {
    const q = new Queue(queueName(), { connection: conn });
    const { err } = await failure(q);
    assert.match(err.message, new RegExp(`^Could not connect to Redis at ${host}:${tlsPort}: `));
    await q.close();
  }
  // A plain connection to the TLS port fails too (and does not hang).
  const plain = new Queue(queueName(), { connection: base });
  assert.match((await failure(plain)).err.message, new RegExp(`${host}:${tlsPort}`));
  await plain.close();

  // Mutual TLS: the server requires a client certificate.
  await server.stop();
  server = await ownServer(tlsArgs('yes'));
  await roundTrip({ ...base, tls: { ca: certs.ca, cert: certs.cert, key: certs.key } });
  const anonymous = new Queue(queueName(), { connection: { ...base, tls: { ca: certs.ca } } });
  assert.match((await failure(anonymous)).err.message, new RegExp(`${host}:${tlsPort}`));
  await anonymous.close();
});

test('a huge drainDelay blocks on the marker without failing; close ends the wait', async () => {
  const name = queueName('huge');
  const worker = new Worker(name, null, { connection: await connection(), drainDelay: 1e20, name: 'huge' });
  closeLater(worker);
  assert.equal(await worker.getNextJob('t', { block: false }), undefined);
  const pending = worker.getNextJob('t');
  const admin = await rawClient();
  await blockedClient(admin, `bull:${Buffer.from(name).toString('base64')}:w:huge`);
  await worker.close();
  assert.equal(await pending, undefined);
});

test('the objects of a process share one command connection; each closes only its own part', async () => {
  const server = await ownServer();
  const conn = { host: '127.0.0.1', port: server.port };
  const admin = ioredis(server.url);
  const others = async () => (await admin.client('LIST')).trim().split('\n').length - 1;
  const names = [0, 1, 2].map((i) => queueName(`share${i}`));
  const queues = names.map((n) => new Queue(n, { connection: conn }));
  const done = names.map(() => []);
  const workers = names.map((n, i) => new Worker(n, async (job) => done[i].push(job.id), { connection: conn }));
  const events = names.map((n) => new QueueEvents(n, { connection: conn }));
  const flows = new FlowProducer({ connection: conn });
  const all = [...queues, ...workers, ...events, flows];
  closeLater(...all);
  await Promise.all(all.map((o) => o.waitUntilReady()));
  // 1 command connection, a blocking one per Worker and per QueueEvents,
  // and one subscriber for the workers' cancel requests (opened as the
  // workers start running, which may be after waitUntilReady). Settled, the
  // count stays there.
  const settled = async (n) => {
    await waitFor(async () => (await others()) >= n, { message: `${n} connections` });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await others(), n);
  };
  await settled(1 + 3 + 3 + 1);
  // Another db is other options: a command connection of its own.
  const elsewhere = new Queue(queueName('share-db'), { connection: { ...conn, db: 2 } });
  await elsewhere.waitUntilReady();
  await settled(1 + 3 + 3 + 1 + 1);
  await elsewhere.close();

  const slow = await queues[0].add('slow', {});
  await waitFor(() => done[0].length === 1);
  assert.equal(done[0][0], slow.id);
  // Closing some objects leaves the others working on the shared connection.
  await Promise.all([queues[0], workers[0], events[0]].map((o) => o.close()));
  await assert.rejects(queues[0].add('late', {}), /Connection is closed/);
  const completed = new Promise((resolve) => events[1].once('completed', resolve));
  const job = await queues[1].add('after', { n: 1 });
  assert.equal((await completed).jobId, job.id);
  const flow = await flows.add({ name: 'parent', queueName: names[2], children: [{ name: 'child', queueName: names[2] }] });
  await waitFor(async () => (await flow.job.getState()) === 'completed');
  assert.equal(await queues[2].getJobCountByTypes('completed'), 2);
  // Each worker of the process still gets its cancel requests.
  const signals = [];
  const held = new Worker(names[1], (j, _token, signal) => new Promise((resolve) => {
    signals.push(signal);
    signal.addEventListener('abort', () => resolve('aborted'));
  }), { connection: conn });
  closeLater(held);
  await workers[1].close();
  const long = await queues[1].add('long', {});
  await waitFor(() => signals.length === 1);
  assert.equal(await queues[1].cancelJob(long.id), true);
  await waitFor(() => signals[0].aborted);

  await Promise.all(all.concat(held).map((o) => o.close()));
  await waitFor(async () => (await others()) === 0, { message: 'every connection to close' });
});
