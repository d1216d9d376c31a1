/**
 * Piscina entry of the probe pool (src/pool/probe-pool.ts): a thin adapter around src/pool/probe-runner.ts.
 * Each task is a ProbeBatch answered with its ProbeResults; early runs go out on parentPort as
 * ProbeProgress, which Piscina emits as the pool's 'message' events.
 *
 * Piscina runs this worker with `atomics: 'disabled'`, so the event loop stays alive between tasks and the
 * prober sweep (and the clients' own timers) keep running.
 */
import { parentPort } from 'node:worker_threads';
import type { ProbeBatch, ProbeResults } from '../src/pool/messages.ts';
import { ProbeRunner } from '../src/pool/probe-runner.ts';
import type { TargetTable } from '../src/pool/target-table.ts';

/*
 * Under tsx (`npm start`, the tests), Piscina loads this file through tsx's CommonJS hook, which leaves an
 * import() of a .ts module (the registry's per-kind probe imports) to Node's own loader: so this thread
 * registers tsx's ESM hooks too, before its first batch. The build (.js) needs nothing.
 */
const tsxHooks = import.meta.url.endsWith('.ts')
  ? import('tsx/esm/api').then(({ register }) => void register())
  : undefined;

const port = parentPort;
const runner = new ProbeRunner(
  port === null ? undefined : (progress, transfer) => port.postMessage(progress, transfer),
);
runner.startSweep();

/** runProbeBatch is the default task: run every target of the batch; answer with every run not posted yet. */
export default async function runProbeBatch(batch: ProbeBatch): Promise<ProbeResults> {
  if (tsxHooks !== undefined) await tsxHooks;
  return runner.run(batch);
}

/** retire closes the probers of targets a reloaded config (its new target table) no longer has as they were. */
export function retire({ table }: { table: TargetTable }): void {
  runner.retire(table);
}

/** closeProbers closes every prober of this worker (the pool's close, before it ends the thread). */
export async function closeProbers(): Promise<void> {
  await runner.close();
}
