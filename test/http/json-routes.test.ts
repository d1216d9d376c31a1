import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenTable, type RouteScope } from '../../src/http/auth.ts';
import {
  errorBody,
  JSON_CONTENT_TYPE,
  matchJsonRoute,
  MAX_PATH_LENGTH,
  NOT_FOUND,
  type JsonRoute,
} from '../../src/http/json-routes.ts';
import { jsonKey } from '../../src/snapshot/keys.ts';
import { mulberry32 } from '../../support/rng.ts';

const AGENT = 'agent-1';
const M = '/system/v1/metrics/v0';
const A = `/system/v1/agent/${AGENT}/metrics/v0`;

function body(key: string, scope: RouteScope, targetId?: string): JsonRoute {
  return targetId === undefined ? { kind: 'body', key, scope } : { kind: 'body', key, scope, targetId };
}

test('every JSON route maps to its body key under both prefixes, with the scope of the prefix', () => {
  for (const [prefix, scope] of [
    [M, 'api-metrics'],
    [A, 'api-agent'],
  ] as const) {
    const table: [string, JsonRoute][] = [
      [`${prefix}/node`, body(jsonKey.node(), scope)],
      [`${prefix}/containers`, body(jsonKey.containers(), scope)],
      [`${prefix}/ping`, body(jsonKey.ping(), scope)],
      [`${prefix}/containers/db-1`, body(jsonKey.container('db-1'), scope, 'db-1')],
      [`${prefix}/containers/db-1/app`, body(jsonKey.app('db-1'), scope, 'db-1')],
      [`${prefix}/containers/db-1/app/rows`, body(jsonKey.appMetric('db-1', 'rows'), scope, 'db-1')],
      [`${prefix}/containers/my.target_2/app/up`, body(jsonKey.appMetric('my.target_2', 'up'), scope, 'my.target_2')],
    ];
    for (const [path, expected] of table) assert.deepEqual(matchJsonRoute(path, AGENT), expected, path);
  }
});

test('one trailing slash and a query string are tolerated', () => {
  assert.deepEqual(matchJsonRoute(`${M}/node/`, AGENT), body(jsonKey.node(), 'api-metrics'));
  assert.deepEqual(matchJsonRoute(`${A}/containers/x/app/`, AGENT), body(jsonKey.app('x'), 'api-agent', 'x'));
  assert.deepEqual(matchJsonRoute(`${M}/ping?pretty=1`, AGENT), body(jsonKey.ping(), 'api-metrics'));
  assert.deepEqual(matchJsonRoute(`${M}/containers/x/?a=/b`, AGENT), body(jsonKey.container('x'), 'api-metrics', 'x'));
});

test('another agent id, or a malformed agent prefix, is not found', () => {
  assert.deepEqual(matchJsonRoute('/system/v1/agent/other/metrics/v0/node', AGENT), NOT_FOUND.unknownAgent);
  assert.deepEqual(matchJsonRoute('/system/v1/agent/Agent-1/metrics/v0/node', AGENT), NOT_FOUND.unknownAgent);
  for (const p of [
    '/system/v1/agent/',
    '/system/v1/agent/agent-1',
    '/system/v1/agent/agent-1/',
    '/system/v1/agent/agent-1/metrics/v0',
    '/system/v1/agent/agent-1/metrics/v0/',
    '/system/v1/agent/agent-1/metrics/v1/node',
    '/system/v1/agent//metrics/v0/node',
  ]) {
    assert.equal(matchJsonRoute(p, AGENT).kind, 'not_found', p);
  }
  assert.deepEqual(
    matchJsonRoute('/system/v1/agent/agent%2D1/metrics/v0/node', AGENT),
    body(jsonKey.node(), 'api-agent'),
  );
});

test('unknown routes and wrong shapes are not found', () => {
  for (const p of [
    '/',
    '',
    '/metrics',
    '/system',
    `${M}`,
    `${M}/`,
    `${M}/nodes`,
    `${M}/node/x`,
    `${M}/containers/x/apps`,
    `${M}/containers/x/app/m/extra`,
    `${M}/containers/x/app/m/extra/more`,
    `${M}/constructor`,
    `${M}/__proto__`,
    `${M}/toString`,
    '/system/v1/metrics/v1/node',
    '/SYSTEM/v1/metrics/v0/node',
    `${M}/ping/extra`,
  ]) {
    assert.equal(matchJsonRoute(p, AGENT).kind, 'not_found', p);
  }
});

test('empty segments, dot segments and two trailing slashes are not found', () => {
  assert.deepEqual(matchJsonRoute(`${M}//node`, AGENT), NOT_FOUND.emptySegment);
  assert.deepEqual(matchJsonRoute(`${M}/containers//app`, AGENT), NOT_FOUND.emptySegment);
  assert.deepEqual(matchJsonRoute(`${M}/node//`, AGENT), NOT_FOUND.emptySegment);
  assert.deepEqual(matchJsonRoute(`${M}/containers/..`, AGENT), NOT_FOUND.dotSegment);
  assert.deepEqual(matchJsonRoute(`${M}/containers/../node`, AGENT), NOT_FOUND.dotSegment);
  assert.deepEqual(matchJsonRoute(`${M}/containers/./app`, AGENT), NOT_FOUND.dotSegment);
  assert.deepEqual(matchJsonRoute(`${M}/containers/%2e%2e/app`, AGENT), NOT_FOUND.dotSegment);
  assert.deepEqual(matchJsonRoute(`${M}/containers/%2E/app`, AGENT), NOT_FOUND.dotSegment);
  assert.deepEqual(matchJsonRoute('/system/v1/agent/../metrics/v0/node', AGENT), NOT_FOUND.dotSegment);
});

test('percent-encoding is decoded per segment, and junk or encoded slashes are not found', () => {
  assert.deepEqual(
    matchJsonRoute(`${M}/containers/db%2D1`, AGENT),
    body(jsonKey.container('db-1'), 'api-metrics', 'db-1'),
  );
  assert.deepEqual(matchJsonRoute(`${M}/%6eode`, AGENT), body(jsonKey.node(), 'api-metrics'));
  for (const p of [
    `${M}/containers/%`,
    `${M}/containers/%zz`,
    `${M}/containers/%E0%A4%A`,
    `${M}/containers/%C0%AF`,
    `${M}/containers/%ED%A0%80`,
    `${M}/containers/a%`,
  ]) {
    assert.deepEqual(matchJsonRoute(p, AGENT), NOT_FOUND.badEncoding, p);
  }
  for (const p of [
    `${M}/containers/a%2Fb`,
    `${M}/containers/a%5Cb`,
    `${M}/containers/a%00b`,
    `${M}/containers/%0a`,
    `${M}/containers/a%7Fb`,
    `${M}/containers/a\u0001b`,
  ]) {
    assert.deepEqual(matchJsonRoute(p, AGENT), NOT_FOUND.badCharacter, p);
  }
});

test('over-long paths are not found without being parsed', () => {
  const long = `${M}/containers/${'a'.repeat(MAX_PATH_LENGTH)}`;
  assert.deepEqual(matchJsonRoute(long, AGENT), NOT_FOUND.tooLong);
  const fits = `${M}/containers/${'a'.repeat(MAX_PATH_LENGTH - M.length - 12)}`;
  assert.equal(fits.length, MAX_PATH_LENGTH);
  assert.equal(matchJsonRoute(fits, AGENT).kind, 'body');
});

test('static routes return the same frozen result every time', () => {
  const a = matchJsonRoute(`${M}/node`, AGENT);
  assert.equal(matchJsonRoute(`${M}/node/`, AGENT), a);
  assert.ok(Object.isFrozen(a));
});

test('errorBody encodes status, reason phrase and message as JSON, and reuses fixed bodies', () => {
  const b = errorBody(404, 'unknown route');
  assert.deepEqual(JSON.parse(new TextDecoder().decode(b)), {
    status: 404,
    error: 'Not Found',
    message: 'unknown route',
  });
  assert.equal(errorBody(404, 'unknown route'), b);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(errorBody(406))), {
    status: 406,
    error: 'Not Acceptable',
    message: 'Not Acceptable',
  });
  assert.deepEqual(JSON.parse(new TextDecoder().decode(errorBody(418, 'a "quoted"\nmessage'))), {
    status: 418,
    error: 'Error',
    message: 'a "quoted"\nmessage',
  });
  assert.equal(JSON_CONTENT_TYPE, 'application/json');
});

test('errorBody stays correct after its cache is full', () => {
  for (let i = 0; i < 600; i++) {
    const parsed = JSON.parse(new TextDecoder().decode(errorBody(500, `message ${i}`))) as { message: string };
    assert.equal(parsed.message, `message ${i}`);
  }
});

test('not-found reasons never echo request text', () => {
  for (const p of [`${M}/containers/SECRET%zz`, `${M}/SECRET`, `/system/v1/agent/SECRET/metrics/v0/node`]) {
    const r = matchJsonRoute(p, AGENT);
    assert.equal(r.kind, 'not_found');
    assert.equal(JSON.stringify(r).includes('SECRET'), false);
  }
});

test('fuzz: random and malformed paths, Accept and Authorization values never throw', () => {
  const rand = mulberry32(0xc0ffee);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const pieces = [
    '/',
    '//',
    '.',
    '..',
    '%',
    '%2',
    '%2e',
    '%2F',
    '%zz',
    '%C0%AF',
    '%E2%82%AC',
    '%ED%A0%80',
    '%00',
    '?',
    '#',
    ';',
    ',',
    '=',
    ' ',
    '\t',
    '\u0000',
    '\u00e9',
    '\ud800',
    '\udc00',
    '\u{1F600}',
    'node',
    'containers',
    'app',
    'ping',
    'system',
    'v1',
    'v0',
    'metrics',
    'agent',
    AGENT,
    'x',
    'db-1',
    '__proto__',
    'constructor',
    'q=0',
    'q=1.5',
    '*/*',
    'application/json',
    'application/*',
    'text/html',
    'Bearer ',
    'Metrics ',
    'token=',
    'a-valid-token-1',
    '\r\n',
  ];
  const prefixes = ['', `${M}/`, `${A}/`, '/system/v1/agent/', `${M}/containers/`, `${A}/containers/x/app/`];
  const randomString = (): string => {
    let s = pick(prefixes);
    const n = Math.floor(rand() * 12);
    for (let i = 0; i < n; i++) {
      s += rand() < 0.8 ? pick(pieces) : String.fromCharCode(Math.floor(rand() * 0x10000));
    }
    if (rand() < 0.02) s += 'a'.repeat(Math.floor(rand() * 6000));
    return s;
  };
  const tokens = new TokenTable([{ token: 'a-valid-token-1', permissions: ['metrics'] }]);
  const scopes: readonly RouteScope[] = ['metrics', 'api-metrics', 'api-agent'];
  let bodies = 0;
  for (let i = 0; i < 5000; i++) {
    const s = randomString();
    const route = matchJsonRoute(s, AGENT);
    if (route.kind === 'body') {
      bodies++;
      assert.ok(route.key.startsWith('json:'), s);
      assert.ok(route.scope === 'api-metrics' || route.scope === 'api-agent', s);
      if (route.targetId !== undefined) {
        assert.ok(route.targetId.length > 0 && !route.targetId.includes('/') && route.targetId !== '..', s);
      }
    } else {
      assert.equal(route.kind, 'not_found', s);
      assert.equal(typeof route.reason, 'string');
    }
    const verdict = tokens.check(s, pick(scopes));
    assert.ok(verdict === 'ok' || verdict === 'unauthorized' || verdict === 'forbidden', s);
  }
  assert.ok(bodies > 50, `only ${bodies} paths matched: the generator should reach real routes too`);
});
