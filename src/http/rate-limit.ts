/**
 * The web config's rate_limit: a token bucket, as exporter-toolkit builds it with Go's
 * `rate.NewLimiter(rate.Every(interval), burst)`. The bucket holds at most `burst` tokens, starts full,
 * gains one every `interval`, and each request takes one; a request that finds none gets 429. One
 * bucket for the whole listener (exporter-toolkit's is per server too), checked on the routes that need
 * authentication: /healthz and /readyz stay out of it, so a flood cannot fail the kubelet's probes.
 */

/** TokenBucket is a rate limiter; `now` (ms) is injectable for tests. */
export class TokenBucket {
  readonly #intervalMs: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #lastMs: number;
  /** stats.limited counts the requests refused (a self-metric, kept across reloads by sharing it). */
  readonly stats: { limited: number };

  constructor(
    intervalMs: number,
    burst: number,
    stats: { limited: number } = { limited: 0 },
    now: () => number = performance.now.bind(performance),
  ) {
    this.#intervalMs = intervalMs;
    this.#burst = burst;
    this.stats = stats;
    this.#now = now;
    this.#tokens = burst;
    this.#lastMs = now();
  }

  /** take reports whether a request may go ahead, taking a token if so. */
  take(): boolean {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#lastMs) / this.#intervalMs);
    this.#lastMs = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return true;
    }
    this.stats.limited++;
    return false;
  }
}
