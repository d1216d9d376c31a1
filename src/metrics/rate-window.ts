/**
 * RateWindow turns the cumulative probe counts of successive publishes into probes per second over about
 * the last minute, for the status page. It keeps a few samples (one per `windowMs / 6`), not one per
 * publish, so its memory is a handful of maps however often the publisher runs. Pure: the caller passes
 * the time.
 */
export class RateWindow {
  private samples: Array<{ readonly atMs: number; readonly probes: ReadonlyMap<string, number> }> = [];

  /** windowMs is how far back a rate looks; minSpanMs is the shortest span a rate is given for. */
  constructor(
    private readonly windowMs = 60_000,
    private readonly minSpanMs = 1000,
  ) {}

  /**
   * update records the counts of this publish and returns each target's probes per second since the
   * oldest sample in the window. A target has no rate (absent from the map) before minSpanMs of history,
   * or when its count went down (a reload started it from zero).
   */
  update(
    nowMs: number,
    targets: ReadonlyArray<{ readonly name: string; readonly probes: number }>,
  ): Map<string, number> {
    const rates = new Map<string, number>();
    // Drop samples older than the window, but keep the newest of those so a rate always spans the window.
    while (this.samples.length > 1 && nowMs - this.samples[1]!.atMs >= this.windowMs) this.samples.shift();
    const oldest = this.samples[0];
    if (oldest !== undefined && nowMs - oldest.atMs >= this.minSpanMs) {
      const seconds = (nowMs - oldest.atMs) / 1000;
      for (const t of targets) {
        const before = oldest.probes.get(t.name);
        if (before !== undefined && t.probes >= before) rates.set(t.name, (t.probes - before) / seconds);
      }
    }
    const newest = this.samples.at(-1);
    if (newest === undefined || nowMs - newest.atMs >= this.windowMs / 6) {
      this.samples.push({ atMs: nowMs, probes: new Map(targets.map((t) => [t.name, t.probes])) });
    }
    return rates;
  }
}
