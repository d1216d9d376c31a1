/**
 * The part of autocannon 8's programmatic API that bench/process/load.ts uses (the package ships no types and
 * @types/autocannon is not a dependency). Field names follow autocannon's README and lib/aggregateResult.js.
 */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  /** Options is what one run is started with. */
  interface Options {
    url: string;
    connections?: number;
    duration?: number;
    headers?: Record<string, string>;
    workers?: number;
  }

  /** Histogram is one of autocannon's summaries (latency in ms, requests per second, bytes per second). */
  interface Histogram {
    average: number;
    p50: number;
    p99: number;
    max: number;
    total: number;
  }

  /** Result is a finished run. */
  interface Result {
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    '2xx': number;
    latency: Histogram;
    requests: Histogram;
    throughput: Histogram;
  }

  /**
   * Instance is a running load test; it is also a promise of its Result. It emits
   * `response(client, statusCode, resBytes, responseTimeMs)` for every response.
   */
  interface Instance extends EventEmitter, PromiseLike<Result> {
    stop(): void;
  }

  function autocannon(options: Options): Instance;
  export default autocannon;
}
