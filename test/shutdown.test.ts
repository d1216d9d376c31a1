import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { createLogger } from '../src/log.ts';
import { createShutdown, stopScheduler } from '../src/shutdown.ts';

/** thread runs `body` as a plain worker with `port` bound to its parentPort. */
const thread = (body: string): Worker =>
  new Worker(`const { parentPort: port } = require('node:worker_threads');\n${body}`, { eval: true });

const ANSWERS_STOP =
  "port.on('message', (m) => { if (m.type === 'stop') port.postMessage({ type: 'stopped', grace: m.graceMs }); });";
const NEVER_ANSWERS = "port.on('message', () => {});";

test('stopScheduler resolves true once the scheduler thread answers stopped', async (t) => {
  const scheduler = thread(ANSWERS_STOP);
  t.after(() => scheduler.terminate());
  assert.equal(await stopScheduler(scheduler, 50, 5_000), true);
});

test('stopScheduler resolves false when the scheduler thread does not answer within grace and close time', async (t) => {
  const scheduler = thread(NEVER_ANSWERS);
  t.after(() => scheduler.terminate());
  assert.equal(await stopScheduler(scheduler, 10, 10), false);
});

test('shutdown closes the server, stops the relay, ends both threads and exits 0, once however many signals come', async () => {
  const steps: string[] = [];
  const scheduler = thread(ANSWERS_STOP);
  const publisher = thread(NEVER_ANSWERS);
  const exits: number[] = [];
  const shutdown = createShutdown({
    server: { close: () => void steps.push('server closed') },
    stopRelays: () => void steps.push('relay stopped'),
    scheduler,
    publisher,
    log: createLogger('silent', 'test'),
    exit: (code) => void exits.push(code),
  });
  await Promise.all([shutdown('SIGTERM'), shutdown('SIGINT')]);
  assert.deepEqual(steps, ['server closed', 'relay stopped']);
  assert.deepEqual(exits, [0]);
  assert.equal(scheduler.threadId, -1, 'the scheduler thread ended');
  assert.equal(publisher.threadId, -1, 'the publisher thread ended');
});
