/**
 * One wrk run (C on epoll, OpenSSL for https) with bench/lib/wrk-report.lua's JSON line: requests, errors and
 * µs latencies, for bench/process/load.ts (which adds the machine's busy time meanwhile) and bench/process/tls.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** HAS_WRK: wrk is installed (it prints its version and exits 1 for --version, so only a spawn error counts). */
export const HAS_WRK = spawnSync('wrk', ['--version']).error === undefined;
const WRK_REPORT = fileURLToPath(new URL('wrk-report.lua', import.meta.url));

/** WrkResult is what one run measured. */
export interface WrkResult {
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly seconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** runWrk runs one single-threaded wrk with `connections` connections against url for `seconds`. */
export async function runWrk(
  url: string,
  connections: number,
  seconds: number,
  headers: Readonly<Record<string, string>> = {},
): Promise<WrkResult> {
  const child = spawn(
    'wrk',
    [
      '-t1',
      `-c${connections}`,
      `-d${seconds}s`,
      '-s',
      WRK_REPORT,
      ...Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
      url,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d;
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const line = out.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !line.startsWith('{')) throw new Error(`wrk exited with ${code}: ${out}`);
  const r = JSON.parse(line) as {
    requests: number;
    durationUs: number;
    non2xx: number;
    errors: number;
    p50Us: number;
    p99Us: number;
  };
  return {
    ok: r.requests - r.non2xx,
    non2xx: r.non2xx,
    errors: r.errors,
    seconds: r.durationUs / 1e6,
    p50Ms: r.p50Us / 1000,
    p99Ms: r.p99Us / 1000,
  };
}
