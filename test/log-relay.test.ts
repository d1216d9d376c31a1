import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import type { Logger } from '../src/log-levels.ts';
import { relayLogger, writeRecord, type LogRecord } from '../src/log-relay.ts';

test('the relay posts the records at or above its level, and nothing below', () => {
  const posted: LogRecord[] = [];
  const log = relayLogger('warn', (r) => posted.push(r));
  log.info('not this');
  log.debug({ a: 1 }, 'nor this');
  log.warn('a warning');
  log.error({ target: 'redis' }, 'an error');
  assert.deepEqual(posted, [
    { level: 'warn', fields: {}, msg: 'a warning' },
    { level: 'error', fields: { target: 'redis' }, msg: 'an error' },
  ]);
  const silent: LogRecord[] = [];
  relayLogger('silent', (r) => silent.push(r)).fatal('never');
  assert.deepEqual(silent, []);
});

test('an error field crosses a real MessagePort as pino prints it: type, message, stack, code and cause', async () => {
  const { port1, port2 } = new MessageChannel();
  const received = new Promise<LogRecord>((resolve) => port2.once('message', resolve));
  const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
  const err = new TypeError('fetch failed', { cause });
  relayLogger('info', (r) => port1.postMessage(r)).error({ err, target: 'web' }, 'probe failed');
  const record = await received;
  port1.close();
  const sent = record.fields.err as Record<string, unknown>;
  assert.equal(sent.type, 'TypeError');
  assert.equal(sent.message, 'fetch failed');
  assert.match(String(sent.stack), /^TypeError: fetch failed\n/);
  assert.deepEqual(
    { ...(sent.cause as Record<string, unknown>), stack: undefined },
    { type: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:6379', code: 'ECONNREFUSED', stack: undefined },
  );
  assert.equal(record.fields.target, 'web');
});

test('writeRecord writes a relayed record at its level, with or without a message', () => {
  const lines: unknown[][] = [];
  const at =
    (level: string) =>
    (...args: unknown[]): void =>
      void lines.push([level, ...args]);
  const log = {
    fatal: at('fatal'),
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    trace: at('trace'),
  } as Logger;
  writeRecord(log, { level: 'info', fields: { tid: 7 }, msg: 'background thread started' });
  writeRecord(log, { level: 'warn', fields: { a: 1 }, msg: undefined });
  assert.deepEqual(lines, [
    ['info', { tid: 7 }, 'background thread started'],
    ['warn', { a: 1 }],
  ]);
});
