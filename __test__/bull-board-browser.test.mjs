// bull-board's page in a real headless Chromium (Debian's `chromium`, driven
// by playwright-core) over our queues: the queue names, the counts and a
// failed job's reason are on screen, and the page reads the same, word for
// word (times and stack frames aside), as over the official bullmq 6.7 in the
// same scenario. A screenshot of each page is saved under the test's
// temporary folder.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import * as official from 'bullmq';
import * as ours from 'bullmq-native';
import { chromium } from 'playwright-core';

import { startBoard } from './support/board.mjs';
import { connection, queueName, waitFor } from './support/redis.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let browser;
let folder;
before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (.ci/run does)`);
  folder = await mkdtemp(join(tmpdir(), 'bull-board-browser-'));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 30000 });
});
after(async () => {
  await browser?.close();
});

/**
 * Two queues (a mail queue with a completed and a failed job, a reports
 * queue with a delayed one) on `lib`, bull-board over them, and what a
 * person sees on the overview and on the mail queue's failed tab.
 */
async function whatThePageShows(lib, label) {
  const conn = await connection();
  const mail = new lib.Queue(queueName(`mail-${label}`), { connection: conn });
  const reports = new lib.Queue(queueName(`reports-${label}`), { connection: conn });
  const roles = [
    [mail.name, '<mail>'],
    [reports.name, '<reports>'],
  ];
  const closers = [mail, reports];
  let board;
  try {
    await mail.add('welcome', { to: 'ada@example.com' });
    await mail.add('bounce', { to: 'nobody@example.com' });
    await reports.add('monthly', { month: 5 }, { delay: 3_600_000 });
    const worker = new lib.Worker(
      mail.name,
      async (job) => {
        if (job.name === 'bounce') throw new Error('SMTP 550: mailbox unavailable');
        return 'sent';
      },
      { connection: conn },
    );
    closers.push(worker);
    await waitFor(async () => {
      const c = await mail.getJobCounts('completed', 'failed');
      return c.completed === 1 && c.failed === 1;
    }, { message: 'the mail jobs to finish' });
    await worker.close();

    board = await startBoard([mail, reports]);
    const page = await browser.newPage();
    try {
      await page.goto(board.url);
      // The overview lists both queues once their counts arrived.
      await page.getByText('1 Job').first().waitFor({ timeout: 15000 });
      const overview = await page.innerText('body');
      await page.screenshot({ path: join(folder, `overview-${label}.png`), fullPage: true });

      await page.goto(`${board.url}/queue/${encodeURIComponent(mail.name)}?status=failed`);
      await page.getByText('SMTP 550: mailbox unavailable').first().waitFor({ timeout: 15000 });
      const failed = await page.innerText('body');
      await page.screenshot({ path: join(folder, `failed-${label}.png`), fullPage: true });
      return { overview: readable(overview, roles), failed: readable(failed, roles) };
    } finally {
      await page.close();
    }
  } finally {
    if (board) await board.close();
    for (const q of [mail, reports]) await q.obliterate({ force: true }).catch(() => undefined);
    for (const c of closers.reverse()) await c.close();
  }
}

/** Page text with the run's queue names, clock times, durations and stack frames replaced. */
function readable(text, roles) {
  let out = text;
  for (const [name, role] of roles) out = out.split(name).join(role);
  return out
    .split('\n')
    .filter((line) => !/^\s*at /.test(line))
    .join('\n')
    .replace(/\d{1,2}:\d{2}:\d{2}\s?[AP]M/g, '<clock>')
    .replace(/\b\d+(\.\d+)? (milliseconds?|seconds?|minutes?)\b/g, '<duration>');
}

test('the board page shows our queues, their counts and a failed job as over bullmq 6.7', { timeout: 60000 }, async (t) => {
  const mine = await whatThePageShows(ours, 'ours');
  const theirs = await whatThePageShows(official, 'official');
  t.diagnostic(`screenshots in ${folder}`);

  const lines = mine.overview.split('\n');
  assert.ok(lines.includes('<mail>'), mine.overview);
  assert.ok(lines.includes('<reports>'), mine.overview);
  assert.ok(lines.includes('2 Jobs'), mine.overview);
  assert.ok(lines.includes('1 Job'), mine.overview);
  assert.match(mine.failed, /#2\nbounce/);
  assert.match(mine.failed, /Error: SMTP 550: mailbox unavailable/);
  assert.equal(mine.overview, theirs.overview);
  assert.equal(mine.failed, theirs.failed);
  assert.ok(existsSync(join(folder, 'failed-ours.png')));
});
