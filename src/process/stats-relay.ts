/**
 * The stats relay: the main thread's own self-metrics (scrapes served, event-loop delay, reloads) go to
 * the background thread once per publish interval. The scheduler, on that thread, hands its own to the
 * publisher directly.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { ServerCounters } from '../http/server.ts';
import type { WebStats } from '../metrics/model.ts';
import type { MainStats } from '../pool/messages.ts';
import type { ReloadCounters } from './reload.ts';

/** startStatsRelay posts the main thread's MainStats every intervalMs; the returned function stops it. */
export function startStatsRelay(
  counters: ServerCounters,
  reloads: ReloadCounters,
  post: (stats: MainStats) => void,
  intervalMs: number,
  web: () => WebStats | undefined = () => undefined,
): () => void {
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const timer = setInterval(() => {
    const webStats = web();
    post({
      scrapesTotal: counters.scrapes,
      apiRequestsTotal: counters.apiRequests,
      eventLoopDelay: {
        p50: loopDelay.percentile(50) / 1e9,
        p99: loopDelay.percentile(99) / 1e9,
        max: loopDelay.max / 1e9,
      },
      configReloadsTotal: reloads.total,
      configReloadFailuresTotal: reloads.failures,
      configLastReloadSuccessful: reloads.lastOk,
      ...(webStats === undefined ? {} : { web: webStats }),
      demand: { ...counters.demand },
      ...(counters.hdrWanted.size === 0 ? {} : { hdrWanted: [...counters.hdrWanted] }),
    });
    counters.hdrWanted.clear();
    loopDelay.reset();
  }, intervalMs);
  return () => {
    clearInterval(timer);
    loopDelay.disable();
  };
}
