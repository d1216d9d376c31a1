/*
 * auth.bench.ts: the per-request token check (TokenTable.check) on the scrape path (tinybench v2).
 *   npm run bench:auth
 * Every /metrics request calls it once with the Authorization header. The table is built from tokens
 * through the real config loader; the rows cover the common case (one valid Bearer token), a larger
 * table (the check compares against every digest), refusals, and the open table (no tokens).
 */
import { Bench } from 'tinybench';
import { loadConfig } from '../../src/config/load.ts';
import { TokenTable } from '../../src/http/auth.ts';

const TOKEN = 'bench-token-0123456789abcdef';
const tokensYaml = (n: number): string =>
  Array.from(
    { length: n },
    (_, i) => `    - { token: "${i === 0 ? TOKEN : `other-token-${i}-xxxxxxxx`}", permissions: [metrics] }`,
  ).join('\n');
const table = (n: number): TokenTable =>
  new TokenTable(loadConfig({ yaml: `auth:\n  tokens:\n${tokensYaml(n)}\n` }).config.auth.tokens);

const one = table(1);
const ten = table(10);
const open = new TokenTable([]);
const valid = `Bearer ${TOKEN}`;

let ok = 0;
const bench = new Bench({ time: 500 });
bench
  .add('check: valid Bearer token, 1 token configured', () => {
    if (one.check(valid, 'metrics') === 'ok') ok++;
  })
  .add('check: valid Bearer token, 10 tokens configured', () => {
    if (ten.check(valid, 'metrics') === 'ok') ok++;
  })
  .add('check: unknown token, 1 token configured (401)', () => {
    if (one.check('Bearer not-the-right-token-at-all', 'metrics') === 'ok') ok++;
  })
  .add('check: no Authorization header (401)', () => {
    if (one.check(undefined, 'metrics') === 'ok') ok++;
  })
  .add('check: open table (no tokens configured)', () => {
    if (open.check(undefined, 'metrics') === 'ok') ok++;
  });

await bench.warmup();
await bench.run();
console.table(bench.table());
if (ok === 0) throw new Error('no check succeeded: the bench tokens are wrong');
