/**
 * The publisher thread: aggregator + renderer (DESIGN.md data flow). It owns the cumulative state and
 * the only SnapshotWriter. Once per publish interval it builds the model, renders Prometheus text,
 * OpenMetrics, their gzip and every JSON body, and publishes them into the SharedArrayBuffer, so the
 * front end only ever sends bytes rendered before the request arrived.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import type { Config } from '../src/config.ts';
import { createLogger, RateLimitedLog } from '../src/log.ts';
import { Aggregator } from '../src/metrics/aggregator.ts';
import { buildFamilies } from '../src/metrics/families.ts';
import type { SelfStats } from '../src/metrics/model.ts';
import { collectNodeStats } from '../src/metrics/node.ts';
import { kOk, type MainStats, type ProbeBatchResult, type ProbeResults, type PublisherInit, type PublisherMessage } from '../src/pool/messages.ts';
import { FAILURE_REASONS } from '../src/probes/probe.ts';
import { renderJsonBodies } from '../src/render/json.ts';
import { renderOpenMetrics, renderText } from '../src/render/text.ts';
import { SnapshotWriter } from '../src/snapshot/writer.ts';
import { lowerThreadPriority } from '../src/thread-priority.ts';

const init = workerData as PublisherInit;
const port = parentPort!;
let config: Config = init.config;
const log = createLogger(config.log.level, 'publisher');
const niceFailed = lowerThreadPriority(config.backgroundNice);
if (niceFailed !== undefined) log.warn(niceFailed);
const probeLog = new RateLimitedLog(log);
const aggregator = new Aggregator();
aggregator.setTargets(config.targets);
const writer = new SnapshotWriter(init.snapshot);
const encoder = new TextEncoder();

let main: MainStats = {
  scrapesTotal: 0, apiRequestsTotal: 0, eventLoopDelay: { p50: 0, p99: 0, max: 0 }, poolThreads: 0,
  poolUtilization: 0, poolQueueSize: 0, probesSkippedTotal: 0, configReloadsTotal: 0,
  configReloadFailuresTotal: 0, configLastReloadSuccessful: 1,
};
let generation = 0;
let publishFailures = 0;
let lastPublishMs = 0;
let lastDurationSeconds = 0;
let lastSizeBytes = 0;
let publishing = false;

function record({ names, result }: ProbeResults): void {
  aggregator.record(names, result);
  logFailures(names, result);
}

init.results.on('message', record);

port.on('message', (msg: PublisherMessage) => {
  switch (msg.type) {
    case 'config':
      config = msg.config;
      aggregator.setTargets(config.targets);
      probeLog.retain(new Set(config.targets.map((t) => t.name)));
      restartTimer();
      void publish();
      break;
    case 'stats':
      main = msg.stats;
      break;
    case 'stop':
      clearInterval(timer);
      init.results.close();
      port.close();
      break;
  }
});

let timer = setInterval(() => void publish(), config.publishIntervalMs);
function restartTimer(): void {
  clearInterval(timer);
  timer = setInterval(() => void publish(), config.publishIntervalMs);
}
void publish();

/**
 * publish renders and publishes one snapshot. It never throws: on failure the previous snapshot stays
 * current, the failure is counted (probex_publish_failures_total) and logged, and the next tick retries.
 */
async function publish(): Promise<void> {
  if (publishing) return; // a slow publish (huge config, slow statfs) must not pile up behind itself
  publishing = true;
  const t0 = performance.now();
  try {
    const targets = aggregator.snapshot();
    const storagePaths = config.targets.flatMap((t) => (t.kind === 'storage' ? [t.path] : []));
    const node = await collectNodeStats(storagePaths);
    const nowMs = Date.now();
    const self: SelfStats = {
      ...main,
      version: init.version,
      startTimeSeconds: init.startTimeSeconds,
      generation: generation + 1,
      publishDurationSeconds: lastDurationSeconds,
      publishFailuresTotal: publishFailures,
      snapshotAgeSeconds: lastPublishMs === 0 ? 0 : (nowMs - lastPublishMs) / 1000,
      snapshotTimestampSeconds: nowMs / 1000,
      snapshotBytes: lastSizeBytes,
      ...processStats(),
    };
    const families = buildFamilies(targets, self, config.profile, config.directus.namePrefix);
    const text = encoder.encode(renderText(families));
    const om = encoder.encode(renderOpenMetrics(families));
    const bodies = new Map<string, Uint8Array>([
      ['text', text],
      ['text.gz', gzipSync(text)],
      ['om', om],
      ['om.gz', gzipSync(om)],
      ...renderJsonBodies(targets, node, { agentId: config.agentId, nowMs }),
    ]);
    generation = writer.publish(bodies);
    lastPublishMs = nowMs;
    lastSizeBytes = 0;
    for (const body of bodies.values()) lastSizeBytes += body.byteLength;
  } catch (err) {
    publishFailures++;
    log.error({ err, failures: publishFailures }, 'publish failed; the previous snapshot stays current');
  } finally {
    lastDurationSeconds = (performance.now() - t0) / 1000;
    publishing = false;
  }
}

function processStats(): Pick<SelfStats, 'cpuUserSecondsTotal' | 'cpuSystemSecondsTotal' | 'residentMemoryBytes' | 'heapUsedBytes'> {
  const cpu = process.cpuUsage(); // process-wide: every thread's CPU time
  const mem = process.memoryUsage();
  return {
    cpuUserSecondsTotal: cpu.user / 1e6,
    cpuSystemSecondsTotal: cpu.system / 1e6,
    residentMemoryBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
  };
}

/** logFailures logs each target's last failure of the batch (rate-limited) and its recovery. */
function logFailures(names: readonly string[], result: ProbeBatchResult): void {
  const lastReason = new Array<number>(names.length).fill(-1);
  for (let i = 0; i < result.target.length; i++) lastReason[result.target[i]!] = result.reason[i]!;
  names.forEach((name, t) => {
    const reason = lastReason[t]!;
    if (reason < 0) return;
    if (reason === kOk) {
      probeLog.recovered(name, { target: name }, 'probe recovered');
    } else {
      probeLog.failure(name, { target: name, reason: FAILURE_REASONS[reason - 1] },
        `probe failed: ${result.failure[t] ?? 'no message'}`);
    }
  });
}
