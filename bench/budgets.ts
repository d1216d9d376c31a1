/**
 * Every budget a bench holds probex to, in one place: the bench exits 1 when one is missed. A budget bounds
 * what probex's own code controls; figures that depend on another library or on the load generator are
 * printed beside them, not budgeted. The measured figures behind each are in docs/benchmarks.md.
 */

/** MiB is 2^20 bytes. */
const MiB = 2 ** 20;

/** load: bench:guard, GET /metrics at c=64, probex against raw uWS sending the very same bytes. */
export const LOAD = {
  /** The concurrency the guard runs at: enough connections to keep both servers busy. */
  connections: 64,
  /** probex's req/s over raw uWS's: the front end may cost a little over the bare server, not more. */
  probexOverRawReqPerSec: 0.9,
  /** probex main thread's CPU per response over raw uWS's: the scrape path is a snapshot read and a send. */
  probexOverRawMainCpuPerRequest: 1.25,
  /** probex's main thread CPU per response, µs: a per-request render or gzip (hundreds of µs) lands far over it. */
  probexMainCpuUsPerRequest: 40,
} as const;

/** tls: bench:tls, probex's own uWS TLS listener against raw uWS's SSLApp at c=64, keep-alive, plain and gzip. */
export const TLS = {
  /** The concurrency the budget applies at, as bench:guard's for plain HTTP. */
  connections: 64,
  /** req/s over raw uWS TLS: the TLS is uWS's either way, so probex adds only its front end, as over HTTP. */
  probexOverRawReqPerSec: 0.9,
} as const;

/** throughput: bench:throughput, Redis PING through probex and scrape latency under probe load. */
export const THROUGHPUT = {
  /** PING through probex over a bare node-redis loop: the pool and scheduler may cost up to 40% of the rate. */
  pingRatio: 0.6,
  /** scrape p99 under 10,000 probes/s over idle: probing must not stall the front end. */
  scrapeP99Ratio: 1.5,
  /** peak RSS serving 1,000 targets at 10 Hz, scraped and reloaded: a sidecar's memory limit. */
  rssBytes: 256 * MiB,
} as const;

/** PROBE_RATE: bench:postgres, bench:dns-grpc, bench:brokers, a kind's probes/s through probex over a bare client loop. */
export const PROBE_RATE = {
  /** The same share as Redis PING's: the server's work per call is the same on both sides. */
  ratio: 0.6,
} as const;

/** PROTOBUF_PUBLISH: bench:protobuf-publish, a publish with the protobuf bodies over one without. */
export const PROTOBUF_PUBLISH = {
  /** At most: serving native histograms may add 30% to the publisher's work, not double it. */
  ratio: 1.3,
} as const;

/** MEMORY: bench:memory, the front end's CPU per scrape at 1,000 targets, loaded (10 Hz) over idle. */
export const MEMORY = {
  /** At most: probing runs on other threads, so it may cost the main thread little per scrape. */
  cpuPerScrapeRatio: 1.2,
} as const;

/** SOAK: bench:soak, minutes of probing, scraping and reloading. */
export const SOAK = {
  /** Last window's mean RSS over the first's, at most: more is a leak, not noise. */
  rssGrowth: 1.1,
  /** Last window's median open fds over the first's, at most: each reload's config thread holds a few for a moment. */
  fdGrowth: 4,
  /** Last window's largest thread count over the first's, at most: a reload's one-shot config thread. */
  threadGrowth: 2,
  /** Last window's largest count of descendant processes over the first's: a sqlite child per target, no more. */
  processGrowth: 0,
  /** SIGTERM to exit, ms: shutdown cancels every probe at once rather than wait for its deadline. */
  exitMs: 5_000,
  /** How long a PostgreSQL backend or process of probex's may outlive it, ms: nothing it started outlives it. */
  orphanMs: 2_000,
} as const;

/** SCALE: bench:scale's goal at 10,000 × 1 Hz and 1,000 × 10 Hz, marked ✗ in its table when missed (no exit code). */
export const SCALE = {
  /** The slowest publish's share of its 1 s interval: the rest is left for scrapes and probing. */
  publishShare: 0.25,
  /** Cores of the whole process, at most: probex is a guest on its application's machine. */
  cores: 1,
  /** Peak RSS, MiB, at most: a sidecar's memory limit at that size. */
  rssMiB: 400,
} as const;
