import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { lowerThreadPriority } from '../src/process/thread-priority.ts';
import { threadNice } from './helpers/nice.ts';

const linuxOnly = process.platform === 'linux' ? {} : { skip: 'thread priorities are set on Linux only' };

interface Lowered {
  readonly before: number;
  readonly result: string | undefined;
  readonly after: number;
}

/** lowerInWorker runs lowerThreadPriority(steps) on a fresh thread (a lowered thread cannot be raised back). */
async function lowerInWorker(steps: number): Promise<Lowered> {
  const module = JSON.stringify(new URL('../src/process/thread-priority.ts', import.meta.url).href);
  const helper = JSON.stringify(new URL('./helpers/nice.ts', import.meta.url).href);
  const worker = new Worker(
    `import('tsx/esm/api').then(async ({ register }) => {
    register();
    const { lowerThreadPriority } = await import(${module});
    const { threadNice } = await import(${helper});
    const before = threadNice();
    const result = lowerThreadPriority(${steps});
    require('node:worker_threads').parentPort.postMessage({ before, result, after: threadNice() });
  })`,
    { eval: true },
  );
  const [lowered] = (await once(worker, 'message')) as [Lowered];
  await worker.terminate();
  return lowered;
}

test('lowerThreadPriority lowers the calling thread by the given steps and leaves the others', linuxOnly, async () => {
  const mine = threadNice();
  const lowered = await lowerInWorker(3);
  assert.equal(lowered.result, undefined);
  assert.equal(lowered.after, lowered.before + 3);
  assert.equal(threadNice(), mine, 'the thread that started the worker keeps its priority');
});

test('lowerThreadPriority stops at nice 19, and 0 steps change nothing', linuxOnly, async () => {
  const capped = await lowerInWorker(40);
  assert.deepEqual([capped.result, capped.after], [undefined, 19]);
  const none = await lowerInWorker(0);
  assert.deepEqual([none.result, none.after], [undefined, none.before]);
});

test('lowerThreadPriority says why it failed instead of throwing', linuxOnly, () => {
  const mine = threadNice();
  assert.match(lowerThreadPriority(Number.NaN) ?? '', /^cannot lower this thread's priority: .*priority/);
  assert.equal(threadNice(), mine);
});
