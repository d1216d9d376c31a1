import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DEFAULT_NEGOTIATION,
  MAX_ACCEPT_LENGTH,
  acceptsGzip,
  acceptsJson,
  lastValueCache,
  negotiateMetrics,
  negotiationFor,
  type MetricsFormat,
  type MetricsNegotiation,
} from '../../src/http/negotiate.ts';
import { OPENMETRICS_CONTENT_TYPE, PROM_TEXT_CONTENT_TYPE } from '../../src/render/text.ts';
import { PROTOBUF_CONTENT_TYPE } from '../../src/render/protobuf.ts';
import { mulberry32 } from '../../support/rng.ts';

// What Prometheus sends, from prometheus/prometheus scrape/scrape.go (acceptHeader, 3.x; scrapeAcceptHeader*, 2.42).
const PROM3_DEFAULT =
  'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,' +
  'application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,' +
  'text/plain;version=0.0.4;q=0.3,*/*;q=0.2';
const PROM3_PROTO_FIRST =
  'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,' +
  'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,' +
  'text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1';
const PROM3_UNDERSCORES = PROM3_DEFAULT.replaceAll('allow-utf-8', 'underscores');
const PROM2 =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,' +
  'text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const PROM2_PROTO =
  'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,' +
  'application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,' +
  'text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

const format = (accept: string | undefined, protobuf = true): MetricsFormat =>
  negotiateMetrics(accept, { protobuf }).format;

describe('negotiateMetrics: what Prometheus sends', () => {
  test('Prometheus 3 gets OpenMetrics 1.0.0 with the escaping it asked for', () => {
    const n = negotiateMetrics(PROM3_DEFAULT);
    assert.equal(n.format, 'openmetrics-1.0.0');
    assert.equal(n.body, 'openmetrics');
    assert.equal(n.contentType, 'application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8');
    assert.equal(
      negotiateMetrics(PROM3_UNDERSCORES).contentType,
      'application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores',
    );
  });

  test('Prometheus 3 scraping native histograms gets protobuf, or OpenMetrics when there is no protobuf body', () => {
    const n = negotiateMetrics(PROM3_PROTO_FIRST);
    assert.deepEqual([n.format, n.body, n.contentType], ['protobuf', 'protobuf', PROTOBUF_CONTENT_TYPE]);
    assert.equal(
      negotiateMetrics(PROM3_PROTO_FIRST, { protobuf: false }).contentType,
      'application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8',
    );
  });

  test('Prometheus 2 gets OpenMetrics 1.0.0 without escaping, or protobuf when native histograms are on', () => {
    assert.deepEqual(
      [format(PROM2), negotiateMetrics(PROM2).contentType],
      ['openmetrics-1.0.0', OPENMETRICS_CONTENT_TYPE],
    );
    assert.equal(format(PROM2_PROTO), 'protobuf');
    assert.equal(format(PROM2_PROTO, false), 'openmetrics-1.0.0');
  });

  test('each Prometheus scrape protocol alone (scrape_protocols) gets that format', () => {
    // config.ScrapeProtocolsHeaders, as acceptHeader writes a single protocol plus */*.
    const cases: [string, MetricsFormat, string][] = [
      [
        'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,*/*;q=0.5',
        'protobuf',
        PROTOBUF_CONTENT_TYPE,
      ],
      ['text/plain;version=0.0.4;q=0.6,*/*;q=0.5', 'text-0.0.4', PROM_TEXT_CONTENT_TYPE],
      [
        'text/plain;version=1.0.0;escaping=allow-utf-8;q=0.6,*/*;q=0.5',
        'text-1.0.0',
        'text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8',
      ],
      [
        'application/openmetrics-text;version=0.0.1;q=0.6,*/*;q=0.5',
        'openmetrics-0.0.1',
        'application/openmetrics-text; version=0.0.1; charset=utf-8',
      ],
      [
        'application/openmetrics-text;version=1.0.0;escaping=values;q=0.6,*/*;q=0.5',
        'openmetrics-1.0.0',
        'application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=values',
      ],
    ];
    for (const [accept, f, contentType] of cases) {
      const n = negotiateMetrics(accept);
      assert.deepEqual([n.format, n.contentType], [f, contentType], accept);
    }
  });

  test("every answer's Content-Type is one Prometheus parses: a media type it knows, well-formed parameters", () => {
    const formats: MetricsFormat[] = ['protobuf', 'openmetrics-1.0.0', 'openmetrics-0.0.1', 'text-1.0.0', 'text-0.0.4'];
    for (const f of formats) {
      for (const escaping of [undefined, 'allow-utf-8', 'underscores', 'dots', 'values'] as const) {
        const { contentType } = negotiationFor(f, escaping);
        // mime.ParseMediaType: type/subtype, then `; key=value` pairs of tokens.
        const [media, ...params] = contentType.split('; ');
        assert.ok(
          ['application/vnd.google.protobuf', 'application/openmetrics-text', 'text/plain'].includes(media!),
          contentType,
        );
        for (const p of params) assert.match(p, /^[a-z-]+=[A-Za-z0-9.\-_]+$/, contentType);
        assert.equal(
          contentType.includes('escaping='),
          escaping !== undefined && (f === 'openmetrics-1.0.0' || f === 'text-1.0.0'),
          `escaping only on the 1.0.0 text formats: ${contentType}`,
        );
      }
    }
  });

  test('an unknown escaping scheme is ignored, as expfmt does', () => {
    assert.equal(
      negotiateMetrics('application/openmetrics-text;version=1.0.0;escaping=bogus').contentType,
      OPENMETRICS_CONTENT_TYPE,
    );
    assert.equal(
      negotiateMetrics('text/plain;version=0.0.4;escaping=allow-utf-8').contentType,
      PROM_TEXT_CONTENT_TYPE,
      'text 0.0.4 does not define escaping',
    );
  });
});

describe('negotiateMetrics: the cases render/text.ts wantsOpenMetrics is tested with', () => {
  const om = (accept: string | undefined): boolean => negotiateMetrics(accept).body === 'openmetrics';

  test('no header, */* or text/plain gets text', () => {
    for (const accept of [
      undefined,
      '',
      '*/*',
      'text/plain',
      'text/plain;version=0.0.4',
      'text/*',
      'application/json',
    ]) {
      assert.equal(negotiateMetrics(accept), DEFAULT_NEGOTIATION, String(accept));
    }
  });

  test("OpenMetrics wins only with a q-value higher than or equal to text's", () => {
    assert.equal(om('application/openmetrics-text'), true);
    assert.equal(om('text/plain;q=0.5, application/openmetrics-text;q=0.5'), true);
    assert.equal(om('text/plain;q=0.9, application/openmetrics-text;version=1.0.0;q=0.5'), false);
    assert.equal(om('application/openmetrics-text;q=0.5, */*;q=0.9'), false);
    assert.equal(om('application/openmetrics-text;q=0.5, */*;q=0.9, text/plain;q=0.1'), true);
  });

  test('OpenMetrics 0.0.1 by name gets OpenMetrics labelled 0.0.1 (wantsOpenMetrics gave text); 2.0.0 and q=0 do not count', () => {
    assert.equal(format('application/openmetrics-text;version=0.0.1'), 'openmetrics-0.0.1');
    assert.equal(om('application/openmetrics-text;version=2.0.0,text/plain;q=0.1'), false);
    assert.equal(om('application/openmetrics-text;q=0'), false);
    assert.equal(om('application/openmetrics-text;version=1.0.0;q=0,application/openmetrics-text'), false);
  });

  test('media types and parameter names are case-insensitive and quoted values accepted', () => {
    assert.equal(om('Application/OpenMetrics-Text; Version="1.0.0"; Q=1'), true);
  });

  test('a malformed header gets text and never throws', () => {
    for (const accept of [
      'garbage',
      'application/',
      '/x',
      'a/b;q=2',
      'a/b;q=abc',
      'application/openmetrics-text;q',
      'application/openmetrics-text;=1',
      '*/plain',
      '\u0000\u0001',
      ';;;',
      'application/openmetrics-text;q=0.5;q=x',
      'application/openmetrics-text;q="1"',
      'x'.repeat(10_000),
    ]) {
      assert.equal(negotiateMetrics(accept), DEFAULT_NEGOTIATION, accept.slice(0, 60));
    }
  });
});

describe('negotiateMetrics: formats by name', () => {
  test('protobuf needs its proto and delimited encoding parameters, and is never reached by a wildcard', () => {
    assert.equal(format('application/vnd.google.protobuf'), 'text-0.0.4');
    assert.equal(
      format('application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text'),
      'text-0.0.4',
    );
    assert.equal(
      format('application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited'),
      'protobuf',
    );
    assert.equal(format('application/*'), 'text-0.0.4');
    assert.equal(
      format('application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited', false),
      'text-0.0.4',
    );
  });

  test('ties go to the richer format; a higher q wins whatever the order', () => {
    const pb = 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited';
    assert.equal(format(`application/openmetrics-text, ${pb}`), 'protobuf');
    assert.equal(format(`${pb};q=0.5, application/openmetrics-text`), 'openmetrics-1.0.0');
    assert.equal(format('text/plain;version=0.0.4, text/plain;version=1.0.0'), 'text-1.0.0');
    assert.equal(format('text/plain;version=0.0.4, application/openmetrics-text;version=0.0.1;q=0.9'), 'text-0.0.4');
  });

  test('answers are interned: equal headers give the same frozen object', () => {
    const a = negotiateMetrics(PROM3_DEFAULT);
    assert.equal(negotiateMetrics(`${PROM3_DEFAULT}`), a);
    assert.equal(negotiateMetrics('application/openmetrics-text;version=1.0.0;escaping=allow-utf-8'), a);
    assert.ok(Object.isFrozen(a));
  });
});

describe('acceptsJson (the cases http/json-routes.ts acceptsJson is tested with)', () => {
  test('accepts an absent, empty or wildcard Accept and application/json', () => {
    for (const h of [
      undefined,
      '',
      '  ',
      ',',
      '*/*',
      'application/*',
      'application/json',
      'Application/JSON',
      'application/json; charset=utf-8',
      'text/html, application/json;q=0.5',
      'text/html,*/*;q=0.1',
      'text/plain;q=1, application/*;q=0.2',
      '*/*;q=bogus',
      'application/json;q=1.000',
      '*/*;q=0, application/json',
      'application/*;q=0, application/json;q=0.001',
      'application/json;foo',
    ]) {
      assert.equal(acceptsJson(h), true, JSON.stringify(h));
    }
  });

  test('refuses ranges that exclude JSON, including q=0 on the most specific match', () => {
    for (const h of [
      'text/html',
      'text/plain; version=0.0.4',
      'application/xml',
      'application/openmetrics-text',
      'application/json;q=0',
      'application/json; q=0.000, */*',
      '*/*;q=0',
      'application/*;q=0',
      'application/*;q=0, */*;q=1',
      'text/*',
      'json',
      'application/jsonx',
      `${'a/b,'.repeat(2000)}application/json`,
    ]) {
      assert.equal(acceptsJson(h), false, h.slice(0, 80));
    }
  });
});

describe('acceptsGzip (the cases http/respond.ts acceptsGzip is tested with)', () => {
  test('gzip, x-gzip or * with q > 0 allow it', () => {
    for (const header of [
      'gzip',
      'GZIP',
      'gzip, deflate, br',
      'br;q=1.0, gzip;q=0.8',
      'x-gzip',
      '*',
      'identity, *;q=0.1',
      ' gzip ; q=1 ',
    ]) {
      assert.equal(acceptsGzip(header), true, header);
    }
  });

  test('absent, other codings, q=0, a malformed q or an over-long header do not', () => {
    for (const header of [
      undefined,
      '',
      'br',
      'deflate, identity',
      'gzip;q=0',
      'gzip;q=0.000',
      '*;q=0',
      'gzip;q=abc',
      'gzip;q=2',
      'gzip;q=0, *',
      `${'x'.repeat(1100)}, gzip`,
      'identity',
    ]) {
      assert.equal(acceptsGzip(header), false, String(header));
    }
    assert.equal(acceptsGzip('*, gzip;q=0'), false, 'an explicit gzip entry wins over *, in either order');
  });
});

describe('lastValueCache', () => {
  test('answers as the function does and parses a repeated header once', () => {
    const seen: (string | undefined)[] = [];
    const cached = lastValueCache((h) => {
      seen.push(h);
      return negotiateMetrics(h);
    });
    const headers = [PROM3_DEFAULT, PROM3_DEFAULT, PROM2_PROTO, PROM2_PROTO, undefined, PROM3_DEFAULT];
    assert.deepEqual(
      headers.map(cached),
      headers.map((h) => negotiateMetrics(h)),
    );
    assert.deepEqual(seen, [undefined, PROM3_DEFAULT, PROM2_PROTO, undefined, PROM3_DEFAULT]);
  });
});

describe('fuzz', () => {
  test('random and hostile headers never throw, and every answer is one of the interned ones', () => {
    const rand = mulberry32(0x5eed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const pieces = [
      'application/openmetrics-text',
      'application/vnd.google.protobuf',
      'text/plain',
      'text/*',
      '*/*',
      'application/json',
      'application/*',
      ';',
      ',',
      ' ',
      '\t',
      '=',
      '"',
      'q=',
      'q=0',
      'q=1',
      'q=0.5',
      'q=1.5',
      'q=-1',
      'q=NaN',
      'version=1.0.0',
      'version=0.0.1',
      'version=0.0.4',
      'escaping=allow-utf-8',
      'escaping=underscores',
      'escaping=',
      'proto=io.prometheus.client.MetricFamily',
      'encoding=delimited',
      'gzip',
      'x-gzip',
      'identity',
      '*',
      '\u0000',
      '\u00e9',
      '\ud800',
      '\u{1F600}',
      '__proto__',
      'constructor',
      '\r\n',
    ];
    const answers = new Set<MetricsNegotiation>();
    for (const f of ['protobuf', 'openmetrics-1.0.0', 'openmetrics-0.0.1', 'text-1.0.0', 'text-0.0.4'] as const) {
      for (const e of [undefined, 'allow-utf-8', 'underscores', 'dots', 'values'] as const)
        answers.add(negotiationFor(f, e));
    }
    const media = [
      'application/openmetrics-text',
      'application/vnd.google.protobuf',
      'text/plain',
      'text/*',
      '*/*',
      'application/json',
    ];
    const params = [
      'version=1.0.0',
      'version=0.0.1',
      'version=0.0.4',
      'version=1.0.0',
      'escaping=allow-utf-8',
      'escaping=dots',
      'proto=io.prometheus.client.MetricFamily',
      'encoding=delimited',
      'q=0.5',
      'q=0.9',
      'q=0',
      'charset=utf-8',
    ];
    /** element is a media range that is often well formed, sometimes with a broken piece. */
    const element = (): string => {
      let e = pick(media);
      const n = Math.floor(rand() * 4);
      for (let k = 0; k < n; k++) e += `${pick([';', '; ', ' ;'])}${rand() < 0.9 ? pick(params) : pick(pieces)}`;
      if (e.startsWith('application/vnd') && rand() < 0.5)
        e += ';proto=io.prometheus.client.MetricFamily;encoding=delimited';
      return e;
    };
    const seen = new Set<MetricsFormat>();
    for (let i = 0; i < 20_000; i++) {
      let s = '';
      if (rand() < 0.6) {
        s = Array.from({ length: 1 + Math.floor(rand() * 4) }, element).join(pick([',', ', ', ' , ']));
      } else {
        const n = Math.floor(rand() * 16);
        for (let k = 0; k < n; k++)
          s += rand() < 0.85 ? pick(pieces) : String.fromCharCode(Math.floor(rand() * 0x10000));
      }
      if (rand() < 0.01) s += ','.repeat(Math.floor(rand() * 3 * MAX_ACCEPT_LENGTH));
      const offer = { protobuf: rand() < 0.5 };
      const n1 = negotiateMetrics(s, offer);
      assert.ok(answers.has(n1), s);
      assert.equal(negotiateMetrics(s, offer), n1, 'deterministic');
      if (n1.format === 'protobuf') assert.ok(offer.protobuf && s.toLowerCase().includes('vnd.google.protobuf'), s);
      if (n1.body === 'openmetrics') assert.ok(s.toLowerCase().includes('openmetrics-text'), s);
      seen.add(n1.format);
      assert.equal(typeof acceptsJson(s), 'boolean');
      assert.equal(typeof acceptsGzip(s), 'boolean');
    }
    assert.equal(seen.size, 5, `the generator reaches every format, got ${[...seen].join(', ')}`);
  });

  test('headers far over the limit are not parsed: the default answers, whatever they say', () => {
    const huge = `${'a/b;q=0.1,'.repeat(100_000)}application/openmetrics-text`;
    assert.equal(negotiateMetrics(huge), DEFAULT_NEGOTIATION);
    assert.equal(
      negotiateMetrics(`application/openmetrics-text,${' '.repeat(MAX_ACCEPT_LENGTH)}`),
      DEFAULT_NEGOTIATION,
    );
    assert.equal(acceptsJson(`application/json,${' '.repeat(MAX_ACCEPT_LENGTH)}`), false);
    assert.equal(acceptsGzip(`gzip,${' '.repeat(2000)}`), false);
  });

  test('non-string values from a misbehaving caller are treated as absent', () => {
    for (const v of [null, 42, {}, ['gzip']] as unknown as string[]) {
      assert.equal(negotiateMetrics(v), DEFAULT_NEGOTIATION);
      assert.equal(acceptsGzip(v), false);
    }
  });
});
