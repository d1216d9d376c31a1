/**
 * Probe throughput through probex against a bare client loop of the same library, the shape the
 * per-kind benches share (bench/process/dns-grpc.ts, bench/process/brokers.ts): the bare loop keeps --concurrency calls
 * in flight in this process; probex (a real process, from dist/) runs one continuous target of the kind
 * with the same concurrency. Each side runs --seconds, alternating --rounds times; the ratio of the
 * medians is checked against PROBE_RATE.ratio (bench/budgets.ts). Results go to bench/results/<name>-<time>.json.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { parseExposition, sampleValue } from '../../support/exposition.ts';
import { startProbex, waitFor } from '../../support/probex-process.ts';
import { PROBE_RATE as BUDGET } from '../budgets.ts';
import { fmt, writeResult } from './report.ts';

/** RateOptions are the command line of a rate bench. */
export interface RateOptions {
  readonly seconds: number;
  readonly rounds: number;
  readonly concurrency: number;
  readonly kinds: readonly string[];
}

/** RateCase is one kind's two sides: a bare call of the library, and the probex target that does the same. */
export interface RateCase {
  readonly bare: () => Promise<void>;
  /** target is one YAML flow mapping, named `bench`, with `interval: 0` and the bench's concurrency. */
  readonly target: string;
  readonly stop: () => Promise<void>;
}

/** rateOptions reads `--seconds 5 --rounds 3 --concurrency 16 --kind <k>...` (every kind by default). */
export function rateOptions(kinds: readonly string[]): RateOptions {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '5' },
      rounds: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '16' },
      kind: { type: 'string', multiple: true, default: [...kinds] },
    },
  });
  return {
    seconds: Number(values.seconds),
    rounds: Number(values.rounds),
    concurrency: Number(values.concurrency),
    kinds: values.kind,
  };
}

/** loop runs `concurrency` workers, each with one `call` in flight, for `ms`; calls per second. */
async function loop(ms: number, concurrency: number, call: () => Promise<void>): Promise<number> {
  let done = 0;
  const t0 = performance.now();
  const until = t0 + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        await call();
        done++;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}

/** probexRate runs probex with one continuous target (`yaml` line) and reads its probe count from /metrics. */
async function probexRate(ms: number, target: string): Promise<{ rate: number; errors: number }> {
  const p = await startProbex(`listen: { port: 0 }\nlog: { level: error }\nthreads: 2\ntargets:\n  - ${target}\n`);
  try {
    const counts = async (): Promise<{ ok: number; errors: number }> => {
      const samples = parseExposition(await (await fetch(`${p.url}/metrics`)).text());
      const ok = sampleValue(samples, 'probex_probe_duration_seconds_count', { target: 'bench' });
      const errors = samples
        .filter((s) => s.name === 'probex_probe_errors_total' && s.labels.target === 'bench')
        .reduce((a, s) => a + s.value, 0);
      return { ok, errors };
    };
    await waitFor('first probes', async () => ((await counts()).ok > 0 ? true : undefined), 20_000);
    await sleep(1_000);
    const [c0, t0] = [await counts(), performance.now()];
    await sleep(ms);
    const [c1, t1] = [await counts(), performance.now()];
    return { rate: (c1.ok + c1.errors - c0.ok - c0.errors) / ((t1 - t0) / 1000), errors: c1.errors - c0.errors };
  } finally {
    await p.stop();
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * compareRates runs every kind of `options.kinds` through `setup`, prints each round and each ratio, writes
 * the results as `name`, and sets a failing exit code when a ratio is under budget or probex failed a probe.
 */
export async function compareRates(
  name: string,
  options: RateOptions,
  setup: (kind: string) => Promise<RateCase>,
): Promise<void> {
  const { seconds, rounds, concurrency } = options;
  const results: Record<string, unknown> = {};
  let failed = false;
  for (const kind of options.kinds) {
    const side = await setup(kind);
    const bare: number[] = [];
    const probex: number[] = [];
    let errors = 0;
    try {
      await loop(500, concurrency, side.bare); // warm
      for (let r = 0; r < rounds; r++) {
        bare.push(await loop(seconds * 1000, concurrency, side.bare));
        const p = await probexRate(seconds * 1000, side.target);
        probex.push(p.rate);
        errors += p.errors;
        console.log(
          `${kind} round ${r + 1}: bare ${fmt(bare[r]!)} /s, probex ${fmt(p.rate)} probes/s (${p.errors} failed)`,
        );
      }
    } finally {
      await side.stop();
    }
    const ratio = median(probex) / median(bare);
    console.log(`${kind} at concurrency ${concurrency}: ratio ${fmt(ratio, 2)}× (budget ≥ ${BUDGET.ratio}×)\n`);
    results[kind] = { bare, probex, errors, ratio };
    if (ratio < BUDGET.ratio || errors > 0) failed = true;
  }
  console.log(`results: ${writeResult(name, { seconds, rounds, concurrency, results, budget: BUDGET })}`);
  if (failed) process.exitCode = 1;
}
