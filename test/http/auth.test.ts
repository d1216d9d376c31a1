import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  MAX_TOKEN_LENGTH,
  MIN_TOKEN_LENGTH,
  tokenProblem,
  type Permission,
  type TokenConfig,
} from '../../src/access.ts';
import {
  MAX_AUTHORIZATION_LENGTH,
  TokenTable,
  WWW_AUTHENTICATE,
  sha256Hex,
  type RouteScope,
} from '../../src/http/auth.ts';

const SCOPES: readonly RouteScope[] = ['metrics', 'api-metrics', 'api-agent'];
const METRICS_TOKEN = 'metrics-token-0001';
const API_TOKEN = 'api-token-00000002';
const SUPER_TOKEN = 'super-token-000003';

function table(
  tokens: TokenConfig[] = [
    { token: METRICS_TOKEN, permissions: ['metrics'] },
    { token: API_TOKEN, permissions: ['api'] },
    { token: SUPER_TOKEN, permissions: ['superuser'] },
  ],
): TokenTable {
  return new TokenTable(tokens);
}

test('a table without tokens is open and lets every request through', () => {
  const t = new TokenTable([]);
  assert.equal(t.open, true);
  assert.equal(t.size, 0);
  for (const scope of SCOPES) {
    assert.equal(t.check(undefined, scope), 'ok');
    assert.equal(t.check('garbage', scope), 'ok');
  }
});

test('a table with tokens is not open', () => {
  assert.equal(table().open, false);
  assert.equal(table().size, 3);
});

test('Metrics, Bearer and token= headers are all accepted', () => {
  const t = table();
  assert.equal(t.check(`Metrics ${METRICS_TOKEN}`, 'metrics'), 'ok');
  assert.equal(t.check(`Bearer ${METRICS_TOKEN}`, 'metrics'), 'ok');
  assert.equal(t.check(`token=${METRICS_TOKEN}`, 'metrics'), 'ok');
});

test('the scheme is matched case-insensitively', () => {
  const t = table();
  for (const h of [
    `metrics ${METRICS_TOKEN}`,
    `METRICS ${METRICS_TOKEN}`,
    `bEaReR ${METRICS_TOKEN}`,
    `TOKEN=${METRICS_TOKEN}`,
    `Token=${METRICS_TOKEN}`,
  ]) {
    assert.equal(t.check(h, 'metrics'), 'ok', h);
  }
});

test('surrounding whitespace and several spaces or tabs after the scheme are tolerated', () => {
  const t = table();
  for (const h of [
    `  Bearer ${METRICS_TOKEN}  `,
    `Bearer \t  ${METRICS_TOKEN}`,
    `\tMetrics\t${METRICS_TOKEN}\t`,
    ` token=${METRICS_TOKEN} `,
  ]) {
    assert.equal(t.check(h, 'metrics'), 'ok', JSON.stringify(h));
  }
});

test('a missing, empty or scheme-only header is unauthorized', () => {
  const t = table();
  for (const h of [undefined, '', '   ', 'Bearer', 'Bearer ', 'Metrics    ', 'token=', 'token=  ']) {
    assert.equal(t.check(h, 'metrics'), 'unauthorized', JSON.stringify(h));
  }
});

test('a wrong scheme or a malformed header is unauthorized', () => {
  const t = table();
  for (const h of [
    `Basic ${METRICS_TOKEN}`,
    METRICS_TOKEN,
    `Bearer=${METRICS_TOKEN}`,
    `BearerX ${METRICS_TOKEN}`,
    `Metrics${METRICS_TOKEN}`,
    `token ${METRICS_TOKEN}`,
    `token = ${METRICS_TOKEN}`,
    `Digest token=${METRICS_TOKEN}`,
    `Bearer ${METRICS_TOKEN} extra`,
  ]) {
    assert.equal(t.check(h, 'metrics'), 'unauthorized', h);
  }
});

test('an unknown token is unauthorized, never forbidden', () => {
  const t = table();
  for (const scope of SCOPES) assert.equal(t.check('Bearer not-a-known-token', scope), 'unauthorized');
});

test('tokens sharing a prefix with a real one, or being a prefix of it, are unauthorized', () => {
  const t = table();
  for (const tok of [
    METRICS_TOKEN.slice(0, -1),
    `${METRICS_TOKEN}x`,
    `${METRICS_TOKEN.slice(0, -1)}2`,
    METRICS_TOKEN.toUpperCase(),
    'm',
  ]) {
    assert.equal(t.check(`Bearer ${tok}`, 'metrics'), 'unauthorized', tok);
  }
  assert.equal(t.check(`Bearer ${METRICS_TOKEN}`, 'metrics'), 'ok');
});

test('a known token without the permission for the scope is forbidden', () => {
  const t = table();
  assert.equal(t.check(`Bearer ${METRICS_TOKEN}`, 'api-metrics'), 'forbidden');
  assert.equal(t.check(`Bearer ${METRICS_TOKEN}`, 'api-agent'), 'forbidden');
  assert.equal(t.check(`Bearer ${API_TOKEN}`, 'metrics'), 'forbidden');
});

test('each permission opens exactly its scopes', () => {
  const expected: Record<Permission, readonly RouteScope[]> = {
    metrics: ['metrics'],
    api: ['api-metrics', 'api-agent'],
    superuser: ['metrics', 'api-metrics', 'api-agent'],
    'dcos:superuser': ['metrics', 'api-metrics', 'api-agent'],
    'dcos:adminrouter:ops:system-metrics': ['api-metrics'],
    'dcos:adminrouter:system:agent': ['api-agent'],
  };
  for (const [permission, scopes] of Object.entries(expected) as [Permission, readonly RouteScope[]][]) {
    const t = new TokenTable([{ token: 'a-token-for-the-test', permissions: [permission] }]);
    for (const scope of SCOPES) {
      assert.equal(
        t.check('token=a-token-for-the-test', scope),
        scopes.includes(scope) ? 'ok' : 'forbidden',
        `${permission} on ${scope}`,
      );
    }
  }
});

test('permissions of one token combine, and a token listed twice gets the union', () => {
  const both = new TokenTable([{ token: 'combined-token', permissions: ['metrics', 'dcos:adminrouter:system:agent'] }]);
  assert.equal(both.check('Bearer combined-token', 'metrics'), 'ok');
  assert.equal(both.check('Bearer combined-token', 'api-agent'), 'ok');
  assert.equal(both.check('Bearer combined-token', 'api-metrics'), 'forbidden');
  const twice = new TokenTable([
    { token: 'listed-twice-token', permissions: ['metrics'] },
    { token: 'listed-twice-token', permissions: ['api'] },
  ]);
  for (const scope of SCOPES) assert.equal(twice.check('Bearer listed-twice-token', scope), 'ok');
});

test('a token in any position of the table is found', () => {
  const tokens: TokenConfig[] = Array.from({ length: 20 }, (_, i) => ({
    token: `position-token-${String(i).padStart(3, '0')}`,
    permissions: ['metrics'],
  }));
  const t = new TokenTable(tokens);
  for (const { token } of tokens) assert.equal(t.check(`Bearer ${token}`, 'metrics'), 'ok', token);
});

test('an over-long header is unauthorized even when it ends with a valid token', () => {
  const t = table();
  const padding = ' '.repeat(MAX_AUTHORIZATION_LENGTH);
  assert.equal(t.check(`Bearer ${padding}${METRICS_TOKEN}`, 'metrics'), 'unauthorized');
  assert.equal(t.check(`Bearer ${'x'.repeat(MAX_AUTHORIZATION_LENGTH * 4)}`, 'metrics'), 'unauthorized');
});

test('the table keeps no plain token anywhere it could be printed', () => {
  const t = table();
  const printed = `${JSON.stringify(t)} ${String(t)} ${Object.keys(t).join(',')}`;
  for (const tok of [METRICS_TOKEN, API_TOKEN, SUPER_TOKEN]) assert.equal(printed.includes(tok), false);
});

test('the comparison hashes the presented token and uses timingSafeEqual over every entry', () => {
  // Timing is not unit-tested; this guards the implementation against a regression to `===` or indexOf.
  const source = readFileSync(new URL('../../src/http/auth.ts', import.meta.url), 'utf8');
  assert.match(source, /hash\('sha256'/);
  assert.match(source, /timingSafeEqual\(digest, this\.#digests\[i\]!\)/);
  assert.doesNotMatch(source, /break;/);
});

test('WWW_AUTHENTICATE lists the Bearer and Metrics challenges as RFC 7235 comma-separated challenges', () => {
  const challenges = WWW_AUTHENTICATE.split(/,\s*(?=[A-Za-z]+ )/);
  assert.deepEqual(
    challenges.map((c) => c.split(' ')[0]),
    ['Bearer', 'Metrics'],
  );
  for (const c of challenges) assert.match(c, /^[A-Za-z]+ realm="[^"]+"$/);
});

test('the JavaScript SHA-256 matches OpenSSL for every length across block boundaries', () => {
  for (let len = 0; len <= 300; len++) {
    const s = randomBytes(len).toString('base64').slice(0, len).padEnd(len, 'x');
    assert.equal(sha256Hex(s), createHash('sha256').update(s).digest('hex'), `length ${len}`);
  }
  for (const len of [MAX_AUTHORIZATION_LENGTH - 1, MAX_AUTHORIZATION_LENGTH, MAX_AUTHORIZATION_LENGTH + 1]) {
    const s = 'k'.repeat(len);
    assert.equal(sha256Hex(s), createHash('sha256').update(s).digest('hex'), `length ${len}`);
  }
});

test('the SHA-256 of a substring and of non-ASCII input equal OpenSSL on the UTF-8 bytes', () => {
  assert.equal(sha256Hex('Bearer abc', 7), createHash('sha256').update('abc').digest('hex'));
  for (const s of ['jeton-\u00e9t\u00e9', '\u{1F511}-token', 'caf\u00e9', '\u00ff'.repeat(70)]) {
    assert.equal(sha256Hex(s), createHash('sha256').update(s, 'utf8').digest('hex'), s);
  }
});

test('a non-ASCII token configured and presented is accepted', () => {
  const t = new TokenTable([{ token: 'cl\u00e9-secr\u00e8te-\u{1F511}', permissions: ['metrics'] }]);
  assert.equal(t.check('Bearer cl\u00e9-secr\u00e8te-\u{1F511}', 'metrics'), 'ok');
  assert.equal(t.check('Bearer cle-secrete-', 'metrics'), 'unauthorized');
});

test('every token tokenProblem accepts is matched in every header form; it never quotes the token', () => {
  const accepted = ['x'.repeat(MIN_TOKEN_LENGTH), 'y'.repeat(MAX_TOKEN_LENGTH), 'tok=with,punct;uation!', 'Ab0-._~+/='];
  for (const token of accepted) {
    assert.equal(tokenProblem(token), undefined, token.slice(0, 20));
    const t = table([{ token, permissions: ['metrics'] }]);
    for (const header of [`Bearer ${token}`, `Metrics ${token}`, `token=${token}`]) {
      assert.equal(t.check(header, 'metrics'), 'ok', header.slice(0, 30));
    }
  }
  const refused: Array<[string, RegExp]> = [
    ['x'.repeat(MIN_TOKEN_LENGTH - 1), /at least 8 characters/],
    ['y'.repeat(MAX_TOKEN_LENGTH + 1), /at most 1024 characters/],
    [' leading-space', /whitespace/],
    ['trailing-tab\t', /whitespace/],
    ['inner space', /whitespace/],
    ['nul\u0000-in-it', /control/],
    ['del\u007f-in-it', /control/],
    // A header carries a token beyond ASCII as UTF-8 bytes, read back one character per byte: never equal.
    ['tökén-ünïcødé', /visible ASCII/],
    ['nbsp\u00a0in-it', /whitespace/],
    ['\u{1F511}-key-token', /visible ASCII/],
  ];
  for (const [token, re] of refused) {
    const problem = tokenProblem(token);
    assert.match(problem ?? '', re, JSON.stringify(token).slice(0, 30));
    assert.ok(!problem!.includes(token.trim().slice(0, 8)), problem);
  }
  // Why the whitespace rule: a token with surrounding whitespace can never match what a client sends.
  const padded = table([{ token: ' padded-token ', permissions: ['metrics'] }]);
  assert.equal(padded.check('Bearer  padded-token ', 'metrics'), 'unauthorized');
});
