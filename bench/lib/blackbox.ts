/**
 * blackbox_exporter (Debian's prometheus-blackbox-exporter) as the process benches run it beside probex:
 * started on a free port, and driven through its /probe endpoint as Prometheus drives it, each (module,
 * target) pair at `hz` probes a second. A pair whose previous probe has not answered when its next is due
 * skips that probe (counted), as probex skips a target's round while the previous one runs.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort, waitFor } from '../../support/probex-process.ts';

/** BLACKBOX is where Debian installs blackbox_exporter. */
export const BLACKBOX = '/usr/bin/prometheus-blackbox-exporter';

const BLACKBOX_CONFIG = `modules:
  http_2xx:
    prober: http
    timeout: 1s
    http:
      valid_status_codes: [200]
  tcp_connect:
    prober: tcp
    timeout: 1s
`;

/** TICK_MS is how often the driver sends the probes that came due. */
const TICK_MS = 10;

/** BlackboxCounts are the probes a driver sent, those that failed and those it skipped. */
export interface BlackboxCounts {
  probes: number;
  failures: number;
  skipped: number;
}

/** Blackbox is a running blackbox_exporter and the driver probing through it. */
export interface Blackbox {
  readonly pid: number;
  /** counts are the figures so far (for a window: the difference of two readings). */
  counts(): BlackboxCounts;
  stop(): Promise<BlackboxCounts>;
}

/**
 * startBlackbox starts blackbox_exporter (undefined when it is not installed) and probes each of `probes`
 * (module, target) pairs `hz` times a second, over at most `sockets` keep-alive connections.
 */
export async function startBlackbox(
  probes: ReadonlyArray<readonly [string, string]>,
  hz: number,
  sockets = 8,
): Promise<Blackbox | undefined> {
  if (!existsSync(BLACKBOX)) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'probex-blackbox-'));
  writeFileSync(join(dir, 'blackbox.yml'), BLACKBOX_CONFIG);
  const port = await freePort();
  const child = spawn(
    BLACKBOX,
    [`--config.file=${join(dir, 'blackbox.yml')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: 'ignore' },
  );
  const exited = new Promise((r) => child.on('exit', r));
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const get = (path: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path, agent }, (r) => {
          let body = '';
          r.setEncoding('utf8');
          r.on('data', (d: string) => {
            body += d;
          });
          r.on('end', () => resolve({ status: r.statusCode!, body }));
          r.on('error', reject);
        })
        .on('error', reject);
    });
  await waitFor(
    'blackbox_exporter listening',
    async () => ((await get('/-/healthy')).status === 200 ? true : undefined),
    15_000,
  );

  const paths = probes.map(([module, target]) => `/probe?module=${module}&target=${encodeURIComponent(target)}`);
  const inFlight = new Uint8Array(paths.length);
  const counts: BlackboxCounts = { probes: 0, failures: 0, skipped: 0 };
  const perSecond = paths.length * hz;
  const t0 = performance.now();
  let sent = 0;
  let next = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) / 1000) * perSecond);
    for (; sent < due; sent++, next = (next + 1) % paths.length) {
      if (inFlight[next] === 1) {
        counts.skipped++;
        continue;
      }
      const pair = next;
      inFlight[pair] = 1;
      get(paths[pair]!).then(
        ({ body }) => {
          inFlight[pair] = 0;
          counts.probes++;
          if (!/^probe_success 1$/m.test(body)) counts.failures++;
        },
        () => {
          inFlight[pair] = 0;
          counts.probes++;
          counts.failures++;
        },
      );
    }
  }, TICK_MS);
  return {
    pid: child.pid!,
    counts: () => ({ ...counts }),
    async stop() {
      clearInterval(timer);
      child.kill('SIGTERM');
      await exited;
      agent.destroy();
      return { ...counts };
    },
  };
}
