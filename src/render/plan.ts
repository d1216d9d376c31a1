/**
 * RenderPlan decides which bodies a publish renders. Most deployments ask for one format (Prometheus
 * text, OpenMetrics or protobuf) and rarely for the JSON API, the status page or the HDR exports, while
 * rendering and holding every one of them costs a publish several times what one costs (at 10,000
 * targets, seconds of CPU and ~35 MB of each snapshot slot). So, rendering on demand, a group is rendered
 * every publish while it is hot (asked for within HOT_FOR_MS), and text always: it is what a client that
 * asks for nothing in particular gets, and what stands in for a format that is not rendered. A group that
 * is not hot is not in the snapshot at all (nothing old is served as if it were current).
 *
 * What a request of a group that is not rendered gets, at once (never a render on the request path, never
 * a wait): /metrics in OpenMetrics or protobuf gets text, as an Accept header probex cannot satisfy does;
 * the JSON API, the status page and an HDR export answer 503 with `Retry-After: 1`. The main thread counts
 * requests per group, those included, and reports the counts once per publish interval
 * (MainStats.demand), so the group is rendered from the first publish after that report.
 */

/** BODY_GROUPS are the groups of bodies rendered together: each /metrics format with its gzip, JSON, status, HDR exports. */
const BODY_GROUPS = ['text', 'om', 'pb', 'json', 'status', 'hdr'] as const;

/** BodyGroup is one of BODY_GROUPS. */
export type BodyGroup = (typeof BODY_GROUPS)[number];

/** DemandCounts are the requests each group has had since the process started (the main thread counts them). */
export type DemandCounts = Record<BodyGroup, number>;

/** HOT_FOR_MS is how long after its last request a group is still rendered every publish. */
const HOT_FOR_MS = 10 * 60_000;

/** zeroDemand is a DemandCounts of zeros. */
export function zeroDemand(): DemandCounts {
  return { text: 0, om: 0, pb: 0, json: 0, status: 0, hdr: 0 };
}

/** RenderPlan tracks demand; see the module comment. */
export class RenderPlan {
  readonly #onDemand: boolean;
  readonly #counts = zeroDemand();
  /** #askedAtMs: when each group's count was last seen to grow (-Infinity: never). */
  readonly #askedAtMs: Record<BodyGroup, number> = {
    text: -Infinity,
    om: -Infinity,
    pb: -Infinity,
    json: -Infinity,
    status: -Infinity,
    hdr: -Infinity,
  };

  /** With onDemand false every publish renders every group (the plan only counts). */
  constructor(onDemand: boolean) {
    this.#onDemand = onDemand;
  }

  /** observe takes the main thread's latest request counts; a group whose count grew is asked for as of nowMs. */
  observe(counts: Readonly<DemandCounts> | undefined, nowMs: number): void {
    if (counts === undefined) return;
    for (const group of BODY_GROUPS) {
      if (counts[group] > this.#counts[group]) this.#askedAtMs[group] = nowMs;
      this.#counts[group] = counts[group];
    }
  }

  /** next is the groups the next publish renders: every group without onDemand; text and the hot ones with it. */
  next(nowMs: number): Set<BodyGroup> {
    if (!this.#onDemand) return new Set(BODY_GROUPS);
    return new Set<BodyGroup>(BODY_GROUPS.filter((g) => g === 'text' || nowMs - this.#askedAtMs[g] <= HOT_FOR_MS));
  }
}
