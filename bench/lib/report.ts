/** What the benches share for reporting: number formatting and the JSON results in bench/results/. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** fmt formats a number with a fixed count of decimals and thousands separators. */
export function fmt(n: number, decimals = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: decimals, minimumFractionDigits: decimals });
}

/** writeResult writes a run as JSON to bench/results/<kind>-<ISO time>.json and returns the path. */
export function writeResult(kind: string, result: object): string {
  mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
  const out = new URL(`../results/${kind}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, import.meta.url);
  writeFileSync(out, JSON.stringify(result, null, 2));
  return fileURLToPath(out);
}
