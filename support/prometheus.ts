/**
 * A real Prometheus server for the end-to-end tests: whether it is installed (requirePrometheus fails the
 * test in CI, else skips it naming the package), startPrometheus, which runs one on a free loopback port
 * until it answers /-/ready, startNativeScraper, which runs one scraping a target with native histograms
 * on, and queryVector, which runs an instant PromQL query over its HTTP API.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort, waitFor } from './probex-process.ts';

/** HAS_PROMETHEUS is whether a `prometheus` binary is on PATH. */
export const HAS_PROMETHEUS = spawnSync('prometheus', ['--version']).error === undefined;

/**
 * requirePrometheus returns true when prometheus is installed. Otherwise it fails the test when CI is
 * 'true', or skips it with the apt-get hint, and returns false: `if (!requirePrometheus(t)) return;`.
 */
export function requirePrometheus(t: TestContext): boolean {
  if (HAS_PROMETHEUS) return true;
  if (process.env.CI === 'true')
    assert.fail('prometheus is not installed; CI=true, so this fails (apt-get install prometheus)');
  t.skip('prometheus not installed: apt-get install prometheus');
  return false;
}

/** PrometheusServer is a running Prometheus: its base URL and how to stop it. */
export interface PrometheusServer {
  url: string;
  stop(): void;
}

/**
 * startPrometheus runs prometheus with configFile, its TSDB under dir/data and the web API on a free
 * 127.0.0.1 port, plus extraArgs (e.g. --enable-feature=...), and resolves once /-/ready answers 200.
 */
export async function startPrometheus(opts: {
  configFile: string;
  dir: string;
  extraArgs?: string[];
}): Promise<PrometheusServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    'prometheus',
    [
      `--config.file=${opts.configFile}`,
      `--storage.tsdb.path=${join(opts.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...(opts.extraArgs ?? []),
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d;
  });
  const stop = (): void => {
    child.kill('SIGTERM');
  };
  try {
    await waitFor(
      'prometheus ready',
      async () => ((await fetch(`${url}/-/ready`)).status === 200 ? true : undefined),
      30_000,
    );
  } catch (err) {
    stop();
    throw new Error(`${(err as Error).message} (prometheus stderr: ${stderr})`);
  }
  return { url, stop };
}

/**
 * startNativeScraper runs Prometheus with native histograms enabled, scraping `target` (host:port) every
 * second as job `job`, in a temp dir of its own; stop() also removes that dir.
 */
export function startNativeScraper(job: string, target: string): Promise<PrometheusServer> {
  const config = `global: { scrape_interval: 1s, scrape_timeout: 900ms }
scrape_configs:
  - job_name: ${job}
    static_configs: [{ targets: ['${target}'] }]
`;
  return startInTempDir(`probex-${job}-`, config, ['--enable-feature=native-histograms']);
}

/** startInTempDir runs Prometheus on `config` in a temp dir of its own (prefix); stop() also removes that dir. */
async function startInTempDir(prefix: string, config: string, extraArgs: string[]): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, config);
  let server: PrometheusServer;
  try {
    server = await startPrometheus({ configFile, dir, extraArgs });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: server.url,
    stop: () => {
      server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** PromSeries is one element of an instant vector. */
export interface PromSeries {
  metric: Record<string, string>;
  value: [number, string];
}

/** queryVector runs an instant PromQL query, at `time` (Unix seconds) when given, and returns its vector. */
export async function queryVector(url: string, expr: string, time?: number): Promise<PromSeries[]> {
  const at = time === undefined ? '' : `&time=${time}`;
  const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}${at}`);
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data: { resultType: string; result: PromSeries[] };
  };
  assert.equal(body.status, 'success', `${expr}: ${body.error}`);
  assert.equal(body.data.resultType, 'vector', expr);
  return body.data.result;
}

/**
 * startRemoteWriteReceiver runs Prometheus as a remote write receiver with native histograms on
 * (`--web.enable-remote-write-receiver`, POST /api/v1/write), scraping nothing, in a temp dir of its own;
 * stop() also removes that dir.
 */
export function startRemoteWriteReceiver(): Promise<PrometheusServer> {
  return startInTempDir('probex-remote-write-', 'global: { scrape_interval: 1m }\n', [
    '--web.enable-remote-write-receiver',
    '--enable-feature=native-histograms',
  ]);
}
