/**
 * What a sqlite target's child process costs (src/probes/sqlite.ts): time from the first run to its
 * answer (spawn, load, open, SELECT 1), a run's round trip once it is up, the child's RSS, and, next to
 * it, what a worker thread holding the same connection adds to the process (the design it replaced).
 * `npm run bench:sqlite-child` measures the build (dist/), as production runs it; without PROBEX_ENTRY=dist
 * it measures the sources under tsx (development). A smoke-sized run: CHILDREN children, RUNS runs each.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { Probe } from '../../src/probes/probe.ts';
import type { SqliteTarget } from '../../src/probes/sqlite.ts';

const CHILDREN = Number(process.env.CHILDREN ?? 4);
const RUNS = Number(process.env.RUNS ?? 200);
const dist = process.env.PROBEX_ENTRY === 'dist';
const { sqliteProbe } = (await import(dist ? '../../dist/src/probes/sqlite.js' : '../../src/probes/sqlite.ts')) as {
  sqliteProbe: Probe<SqliteTarget>;
};

const dir = mkdtempSync(join(tmpdir(), 'probex-bench-sqlite-'));
const path = join(dir, 'app.db');
const db = new Database(path);
db.exec('CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);');
db.close();

const rssKb = (pid: number | 'self'): number =>
  Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const children = (): number[] =>
  readdirSync('/proc/self/task').flatMap((task) =>
    readFileSync(`/proc/self/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
  );
const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const target = (i: number) =>
  ({
    name: `bench-${i}`,
    kind: 'sqlite',
    path,
    query: 'SELECT count(*) FROM t',
    intervalMs: 1000,
    timeoutMs: 1000,
    concurrency: 1,
    labels: {},
    buckets: [1],
  }) as const;

const firstAnswerMs: number[] = [];
const roundTripUs: number[] = [];
const probers = [];
for (let i = 0; i < CHILDREN; i++) {
  const prober = sqliteProbe.create(target(i));
  probers.push(prober);
  const t0 = performance.now();
  const first = await prober.run(AbortSignal.timeout(30_000));
  if (!first.ok) throw new Error(`first run failed: ${JSON.stringify(first)}`);
  firstAnswerMs.push(performance.now() - t0);
  for (let r = 0; r < RUNS; r++) {
    const t1 = performance.now();
    await prober.run(AbortSignal.timeout(30_000));
    roundTripUs.push((performance.now() - t1) * 1000);
  }
}
const childRss = children().map((pid) => rssKb(pid));
for (const prober of probers) await prober.close();

// The replaced design: a worker thread per target, holding a connection, in this process.
const before = rssKb('self');
const threads = Array.from(
  { length: CHILDREN },
  () =>
    new Worker(
      `const Database = require('better-sqlite3'); const db = new Database(${JSON.stringify(path)}, { readonly: true });
       db.prepare('SELECT count(*) FROM t').get(); require('node:worker_threads').parentPort.postMessage('up');`,
      { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 48 } },
    ),
);
await Promise.all(threads.map((w) => new Promise((resolve) => w.once('message', resolve))));
const threadRssKb = (rssKb('self') - before) / CHILDREN;
await Promise.all(threads.map((w) => w.terminate()));
rmSync(dir, { recursive: true, force: true });

console.table({
  [`child process (${dist ? 'dist' : 'tsx'})`]: {
    'first answer ms (median)': Number(median(firstAnswerMs).toFixed(1)),
    'round trip µs (median)': Number(median(roundTripUs).toFixed(0)),
    'RSS MiB each (median)': Number((median(childRss) / 1024).toFixed(1)),
  },
  'worker thread (replaced)': {
    'first answer ms (median)': NaN,
    'round trip µs (median)': NaN,
    'RSS MiB each (median)': Number((threadRssKb / 1024).toFixed(1)),
  },
});
