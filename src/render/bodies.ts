/**
 * The bodies a publish writes into the snapshot: each /metrics format (Prometheus text, OpenMetrics,
 * protobuf) and its gzip, compressed once here rather than per scrape, and every JSON body.
 */
import { gzipSync } from 'node:zlib';
import type { Config } from '../config/schema.ts';
import { buildFamilies } from '../metrics/families.ts';
import type { MetricFamily, SelfStats, TargetSnapshot } from '../metrics/model.ts';
import type { Profile } from '../metrics/names.ts';
import type { NodeStats } from '../metrics/host.ts';
import type { FixedKey } from '../snapshot/layout.ts';
import { renderJsonBodies } from './json.ts';
import { renderProtobuf } from './protobuf.ts';
import { ByteWriter } from './byte-writer.ts';
import { writeOpenMetrics, writeText } from './text.ts';

/**
 * renderBodies renders every body of one complete snapshot: Prometheus text, OpenMetrics, protobuf, the
 * gzip of each (compressed once here, not per scrape) and every JSON body.
 */
export function renderBodies(
  targets: readonly TargetSnapshot[],
  self: SelfStats,
  node: NodeStats,
  config: Pick<Config, 'profile' | 'agentId' | 'directus' | 'shard'>,
  nowMs: number,
): Map<string, Uint8Array> {
  const families = buildFamilies(targets, self, config.profile, config.directus.namePrefix);
  return new Map<string, Uint8Array>([
    ...metricsBodies(families, config.profile),
    ...renderJsonBodies(targets, node, {
      agentId: config.agentId,
      nowMs,
      ...(config.shard === undefined ? {} : { shard: config.shard }),
    }),
  ]);
}

/** renderSelfBodies renders the `/metrics` bodies with the self-metrics alone (a reduced snapshot). */
export function renderSelfBodies(
  self: SelfStats,
  config: Pick<Config, 'profile' | 'directus'>,
): Map<string, Uint8Array> {
  return new Map<string, Uint8Array>(
    metricsBodies(buildFamilies([], self, config.profile, config.directus.namePrefix), config.profile),
  );
}

/**
 * PROTOBUF_GZIP_LEVEL compresses the protobuf body at zlib level 1, not the default 6: at 1,000 targets
 * that takes ~6 ms instead of ~21 ms of each publish, for a body ~17% larger (76 KB instead of 65 KB,
 * still below the 82 KB of gzipped text), which keeps a publish with protobuf within 1.3x of one without
 * (docs/benchmarks.md, "Protobuf exposition").
 */
const PROTOBUF_GZIP_LEVEL = 1;

/**
 * metricsBodies are the six `/metrics` bodies (snapshot/layout.ts FIXED_KEYS): each format and its gzip.
 * The directus profile lays its text out as Directus's prom-client does, an empty line between families.
 */
function metricsBodies(families: readonly MetricFamily[], profile: Profile): Array<[FixedKey, Uint8Array]> {
  return METRICS_FORMATS.flatMap((format) => formatBodies(format, families, profile));
}

/**
 * LARGE_BODY_BYTES and LARGE_BODY_GZIP_LEVEL: a text or OpenMetrics body over 1 MiB (~700 targets) is
 * compressed at zlib level 3, not the default 6. At 10,000 targets (15 MB of text) that takes ~33 ms of
 * CPU instead of ~155 ms, for a gzip ~13% larger (docs/benchmarks.md, "Scale on one process"); a smaller
 * body costs little either way and keeps the default's smaller size.
 */
export const LARGE_BODY_BYTES = 1024 * 1024;
const LARGE_BODY_GZIP_LEVEL = 3;

/** gzipBody compresses a text or OpenMetrics body at the level its size calls for. */
function gzipBody(body: Uint8Array): Uint8Array {
  return body.byteLength > LARGE_BODY_BYTES ? gzipSync(body, { level: LARGE_BODY_GZIP_LEVEL }) : gzipSync(body);
}

/** METRICS_FORMATS are the /metrics formats, by the fixed key of their plain body. */
export const METRICS_FORMATS = ['text', 'om', 'pb'] as const;

/**
 * TextWriters are the buffers the text and OpenMetrics bodies are written into. A publisher keeps one
 * pair for its life, so a publish allocates no new 15 MB buffer at 10,000 targets: the plain bodies
 * formatBodies returns are views into them, valid until the same format is rendered again (the
 * publisher copies them into the snapshot before that).
 */
export interface TextWriters {
  readonly text: ByteWriter;
  readonly om: ByteWriter;
}

/** newTextWriters is a pair of TextWriters. */
export function newTextWriters(): TextWriters {
  return { text: new ByteWriter(), om: new ByteWriter() };
}

/** formatBodies renders one /metrics format: its plain body (see TextWriters) and its gzip. */
export function formatBodies(
  format: (typeof METRICS_FORMATS)[number],
  families: readonly MetricFamily[],
  profile: Profile,
  writers: TextWriters = newTextWriters(),
): Array<[FixedKey, Uint8Array]> {
  switch (format) {
    case 'text': {
      writeText(writers.text, families, profile === 'directus' ? 'prom-client' : 'compact');
      const text = writers.text.view();
      return [
        ['text', text],
        ['text.gz', gzipBody(text)],
      ];
    }
    case 'om': {
      writeOpenMetrics(writers.om, families);
      const om = writers.om.view();
      return [
        ['om', om],
        ['om.gz', gzipBody(om)],
      ];
    }
    case 'pb': {
      const pb = renderProtobuf(families);
      return [
        ['pb', pb],
        ['pb.gz', gzipSync(pb, { level: PROTOBUF_GZIP_LEVEL })],
      ];
    }
  }
}
