/**
 * HdrExportRotation decides, at each publish, which targets' HDR exports (`/hdr/{target}`: the V2 base64
 * and the `.hgrm` text) the publisher renders again. Rendering both costs about 0.4 ms per target (bench:status),
 * so at 10,000 targets rendering all of them every publish would take seconds. Instead:
 * - only a target whose histogram changed since its last export is rendered again (a target probed every
 *   minute, or down, costs nothing between its probes);
 * - those are rendered oldest export first (never exported first of all, and before them the ones a client
 *   asked for and did not find), until the publish's time budget is spent; at least one is rendered per
 *   publish, so the rotation always moves;
 * - every other export stays as it is: its bytes are carried over from the current snapshot
 *   (SnapshotWriter's `carry`), not kept here.
 * An export is therefore at most ceil(changed targets × cost / budget) publishes old: one publish up to
 * about a hundred busy targets at the default budget. The front end only ever sends what is in the snapshot.
 * No I/O; the clock is passed in.
 */
import * as hdr from 'hdr-histogram-js';
import type { HdrHistogram } from './export.ts';
import { encodeHistogram, percentileDistribution } from './export.ts';
import { hdrKey } from '../snapshot/keys.ts';

/** HDR_EXPORT_BUDGET_SHARE is the share of the publish interval one publish may spend rendering exports. */
export const HDR_EXPORT_BUDGET_SHARE = 0.05;

/** Exported is what the rotation remembers of a target's last export. */
interface Exported {
  /** histogram and totalCount identify what was exported: a new histogram object (reload, widening) or count differs. */
  histogram: HdrHistogram | undefined;
  totalCount: number;
  /** seq orders exports: lower is older. */
  seq: number;
}

/** RotationTarget is one configured target at publish time. */
export interface RotationTarget {
  readonly name: string;
  /** histogram is the target's live histogram (undefined for none yet: an empty export is rendered). */
  readonly histogram: HdrHistogram | undefined;
}

/** RotationResult is one publish's share: the bodies rendered now, and the keys to carry from the snapshot. */
export interface RotationResult {
  readonly bodies: Map<string, Uint8Array>;
  /** carry holds the keys of exports not rendered now, which the current snapshot has. */
  readonly carry: ReadonlySet<string>;
  /** pending is the number of changed targets left for a later publish. */
  readonly pending: number;
}

const encoder = new TextEncoder();
const NO_NAMES: ReadonlySet<string> = new Set();

/** HdrExportRotation keeps which export of each target is in the snapshot. */
export class HdrExportRotation {
  #exported = new Map<string, Exported>();
  #seq = 0;

  /**
   * next renders this publish's exports within budgetMs (measured with `now`, in ms). Targets not in
   * `targets` are forgotten (their keys are not carried: a removed target's export goes with it).
   */
  next(
    targets: readonly RotationTarget[],
    budgetMs: number,
    now: () => number,
    wanted: ReadonlySet<string> = NO_NAMES,
  ): RotationResult {
    const live = new Map<string, Exported>();
    const stale: Array<{ t: RotationTarget; seq: number }> = [];
    for (const t of targets) {
      const e = this.#exported.get(t.name);
      if (e !== undefined) live.set(t.name, e);
      const count = t.histogram?.totalCount ?? 0;
      if (e === undefined || e.histogram !== t.histogram || e.totalCount !== count)
        stale.push({ t, seq: wanted.has(t.name) ? -2 : (e?.seq ?? -1) });
    }
    this.#exported = live;
    stale.sort((a, b) => a.seq - b.seq);
    const bodies = new Map<string, Uint8Array>();
    const start = now();
    let done = 0;
    for (const { t } of stale) {
      if (done > 0 && now() - start >= budgetMs) break;
      bodies.set(
        hdrKey.base64(t.name),
        encoder.encode(t.histogram === undefined ? EMPTY_BASE64 : encodeHistogram(t.histogram)),
      );
      bodies.set(
        hdrKey.hgrm(t.name),
        encoder.encode(t.histogram === undefined ? EMPTY_HGRM : percentileDistribution(t.histogram)),
      );
      live.set(t.name, { histogram: t.histogram, totalCount: t.histogram?.totalCount ?? 0, seq: ++this.#seq });
      done++;
    }
    const carry = new Set<string>();
    for (const name of live.keys()) {
      if (bodies.has(hdrKey.base64(name))) continue;
      carry.add(hdrKey.base64(name));
      carry.add(hdrKey.hgrm(name));
    }
    return { bodies, carry, pending: stale.length - done };
  }

  /**
   * invalidate marks every export stale, so they are all rendered again (oldest first, within the budget),
   * while the snapshot's copies are still carried meanwhile: for a publish that rendered exports and then
   * failed to write them.
   */
  invalidate(): void {
    for (const e of this.#exported.values()) e.totalCount = -1;
  }

  /** forget drops what it knows of every export: for a snapshot that no longer holds any (none asked for). */
  forget(): void {
    this.#exported.clear();
  }
}

/** emptyHistogram builds the histogram a target with no successful probe exports (valid, count 0). */
function emptyHistogram(): HdrHistogram {
  const h = new hdr.Int32Histogram(1, 2, 3);
  h.autoResize = true;
  return h;
}
const EMPTY_BASE64 = encodeHistogram(emptyHistogram());
const EMPTY_HGRM = percentileDistribution(emptyHistogram());
