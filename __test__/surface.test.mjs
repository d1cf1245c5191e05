// The public members of bullmq 6.7's classes against ours: every method,
// getter/setter and static method that 6.7's declarations (the installed
// .d.ts files) give Queue (with QueueGetters and QueueBase), Worker, Job,
// QueueEvents, QueueEventsProducer, FlowProducer and JobScheduler exists on
// our class, and every instance property a 6.7 instance has, ours has too —
// except the members README.md lists (with the reason) under "Members that
// differ from BullMQ's", a list that must name only real differences.
//
// Counted: members 6.7 declares without `private`/`protected`, not
// underscore-prefixed, on the class or the 6.7 classes it extends (methods
// inherited from EventEmitter are EventEmitter's on both sides). Properties
// are compared on constructed instances, so a property 6.7 declares but never
// sets (FlowProducer's `keys`, `toKey`) is not counted. Also counted, though
// 6.7 marks it protected: `Worker.getBlockTimeout`, which users call.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

import ts from 'typescript';

import * as official from 'bullmq';
import * as ours from 'bullmq-native';

import { track } from './support/closers.mjs';
import { connection, queueName } from './support/redis.mjs';

const require = createRequire(import.meta.url);
const CLASSES_DIR = join(dirname(require.resolve('bullmq')), '..', 'esm', 'classes');
const COMPARED = ['Queue', 'Worker', 'Job', 'QueueEvents', 'QueueEventsProducer', 'FlowProducer', 'JobScheduler'];
/** Protected in 6.7's declarations, public in use. */
const ALSO_REQUIRED = new Set(['Worker.getBlockTimeout']);

/** Every class 6.7 declares: its `extends` and its members with their modifiers. */
function declaredClasses() {
  const classes = new Map();
  for (const file of readdirSync(CLASSES_DIR).filter((f) => f.endsWith('.d.ts'))) {
    const source = ts.createSourceFile(file, readFileSync(join(CLASSES_DIR, file), 'utf8'), ts.ScriptTarget.Latest, true);
    source.forEachChild((node) => {
      if (!ts.isClassDeclaration(node) || !node.name) return;
      const heritage = node.heritageClauses?.find((h) => h.token === ts.SyntaxKind.ExtendsKeyword);
      const members = [];
      for (const m of node.members) {
        if (!m.name || ts.isPrivateIdentifier(m.name) || ts.isConstructorDeclaration(m)) continue;
        const mods = (ts.getModifiers(m) ?? []).map((x) => x.kind);
        members.push({
          name: m.name.getText(source),
          isStatic: mods.includes(ts.SyntaxKind.StaticKeyword),
          hidden: mods.includes(ts.SyntaxKind.PrivateKeyword) || mods.includes(ts.SyntaxKind.ProtectedKeyword),
          property: ts.isPropertyDeclaration(m),
        });
      }
      classes.set(node.name.text, { parent: heritage?.types[0].expression.getText(source), members });
    });
  }
  return classes;
}

/** The public members of a 6.7 class with the class that declares each, nearest first. */
function publicMembers(classes, name) {
  const out = new Map();
  for (let c = name; classes.has(c); c = classes.get(c).parent) {
    for (const m of classes.get(c).members) {
      const counted = (!m.hidden || ALSO_REQUIRED.has(`${name}.${m.name}`)) && !m.name.startsWith('_');
      const key = `${m.isStatic ? 'static ' : ''}${m.name}`;
      if (!counted || out.has(key)) continue;
      out.set(key, { ...m, declaredBy: c });
    }
  }
  return [...out.values()];
}

/** The members listed in README's table of members that differ. */
function documentedDifferences() {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf("### Members that differ from BullMQ's");
  assert.ok(start >= 0, 'README.md has a section "Members that differ from BullMQ\'s"');
  const end = readme.indexOf('\n#', start + 4);
  const names = new Set();
  for (const line of readme.slice(start, end < 0 ? undefined : end).split('\n')) {
    if (!line.startsWith('| `')) continue;
    for (const m of line.split('|')[1].matchAll(/`([^`]+)`/g)) names.add(m[1]);
  }
  return names;
}

/** A 6.7 instance and one of ours of each compared class, built alike. */
async function instances() {
  const conn = await connection();
  const name = queueName('surface');
  const build = (lib) => {
    const queue = track(new lib.Queue(name, { connection: conn }));
    return {
      Queue: queue,
      Worker: track(new lib.Worker(name, null, { connection: conn, autorun: false })),
      Job: new lib.Job(queue, 'n', {}, {}, 'j1'),
      QueueEvents: track(new lib.QueueEvents(name, { connection: conn, autorun: false })),
      QueueEventsProducer: track(new lib.QueueEventsProducer(name, { connection: conn })),
      FlowProducer: track(new lib.FlowProducer({ connection: conn })),
      JobScheduler: track(new lib.JobScheduler(name, { connection: conn })),
    };
  };
  return { official: build(official), ours: build(ours) };
}

test("every public member of bullmq 6.7's classes is ours too, or documented as different", async (t) => {
  const classes = declaredClasses();
  const built = await instances();
  const documented = documentedDifferences();
  const missing = [];
  const differing = new Set();
  let compared = 0;
  for (const name of COMPARED) {
    assert.ok(classes.has(name), `bullmq 6.7 declares ${name}`);
    const Ours = ours[name];
    const members = publicMembers(classes, name);
    let here = 0;
    for (const m of members) {
      let has;
      if (m.isStatic) {
        has = m.name in Ours;
      } else if (m.property) {
        // Only properties a 6.7 instance really has.
        if (!(m.name in built.official[name])) continue;
        has = m.name in built.ours[name];
      } else {
        has = m.name in Ours.prototype;
      }
      here += 1;
      if (has) continue;
      const label = `${m.declaredBy}.${m.name}`;
      differing.add(label);
      if (!documented.has(label)) missing.push(`${name}: ${label}`);
    }
    compared += here;
    t.diagnostic(`${name}: ${here} public members compared`);
  }
  assert.deepEqual(missing, [], 'members of bullmq 6.7 that we neither have nor document');
  const stale = [...documented].filter((label) => !differing.has(label));
  assert.deepEqual(stale, [], 'documented differences that are not differences');
  // The declarations were read: a broken parse would compare nothing.
  assert.ok(compared > 200, `compared ${compared} members`);
});

test('the declarations are read with their visibility', () => {
  const classes = declaredClasses();
  const worker = publicMembers(classes, 'Worker').map((m) => m.name);
  assert.ok(worker.includes('getNextJob') && worker.includes('waitUntilReady') && worker.includes('getBlockTimeout'));
  assert.ok(!worker.includes('moveToActive'), 'protected members are left out');
  const job = publicMembers(classes, 'Job');
  assert.ok(job.some((m) => m.isStatic && m.name === 'fromJSON'));
  assert.ok(!job.some((m) => m.name === 'validateOptions'));
  const queue = publicMembers(classes, 'Queue');
  assert.equal(queue.find((m) => m.name === 'getRanges').declaredBy, 'QueueGetters');
  assert.equal(queue.find((m) => m.name === 'close').declaredBy, 'Queue');
});
