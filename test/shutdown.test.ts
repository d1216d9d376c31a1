import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { createLogger } from '../src/log.ts';
import { createShutdown, stopBackground } from '../src/process/shutdown.ts';

/** thread runs `body` as a plain worker with `port` bound to its parentPort. */
const thread = (body: string): Worker =>
  new Worker(`const { parentPort: port } = require('node:worker_threads');\n${body}`, { eval: true });

const ANSWERS_STOP =
  "port.on('message', (m) => { if (m.type === 'stop') port.postMessage({ type: 'stopped', grace: m.graceMs }); });";
const NEVER_ANSWERS = "port.on('message', () => {});";

test('stopBackground resolves true once the background thread answers stopped', async (t) => {
  const background = thread(ANSWERS_STOP);
  t.after(() => background.terminate());
  assert.equal(await stopBackground(background, 50, 5_000), true);
});

test('stopBackground resolves false when the background thread does not answer within grace and close time', async (t) => {
  const background = thread(NEVER_ANSWERS);
  t.after(() => background.terminate());
  assert.equal(await stopBackground(background, 10, 10), false);
});

test('shutdown closes the server, stops the relay, ends the background thread and exits 0, once however many signals come', async () => {
  const steps: string[] = [];
  const background = thread(ANSWERS_STOP);
  const exits: number[] = [];
  const shutdown = createShutdown({
    server: { close: () => void steps.push('server closed') },
    stopRelays: () => void steps.push('relay stopped'),
    background,
    log: createLogger('silent', 'test'),
    exit: (code) => void exits.push(code),
  });
  await Promise.all([shutdown('SIGTERM'), shutdown('SIGINT')]);
  assert.deepEqual(steps, ['server closed', 'relay stopped']);
  assert.deepEqual(exits, [0]);
  assert.equal(background.threadId, -1, 'the background thread ended');
});

test('shutdown terminates a background thread that does not answer stop', async () => {
  const background = thread(NEVER_ANSWERS);
  const exits: number[] = [];
  const shutdown = createShutdown({
    server: { close: () => undefined },
    stopRelays: () => undefined,
    background,
    log: createLogger('silent', 'test'),
    exit: (code) => void exits.push(code),
  });
  await shutdown('SIGTERM');
  assert.deepEqual(exits, [0]);
  assert.equal(background.threadId, -1, 'the background thread ended');
});
