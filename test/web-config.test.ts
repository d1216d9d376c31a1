import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../src/errors.ts';
import { goDurationMs, parseWebConfig } from '../src/config/web-config.ts';
import { needsNodeTls, webGuard, type WebConfig } from '../src/config/web-settings.ts';

const PATH = '/etc/probex/web.yml';
const HASH = '$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi';

const parse = (yaml: string): WebConfig => parseWebConfig(yaml, PATH);

/** issues parses yaml and returns every problem, failing when it parses. */
function issues(yaml: string): readonly string[] {
  try {
    parse(yaml);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'EXPORTER_CONFIG_INVALID');
    return err.issues;
  }
  assert.fail('expected the web config to be refused');
}

test("an empty web config is plain HTTP with nothing else, as exporter-toolkit's", () => {
  for (const yaml of ['', '# nothing\n', 'tls_server_config:\nhttp_server_config:\n']) {
    const web = parse(yaml);
    assert.equal(web.tls, undefined);
    assert.deepEqual(web.users, {});
    assert.deepEqual(web.headers, []);
    assert.equal(web.rateLimit, undefined);
    assert.equal(web.http2, true, 'http2 defaults to true');
  }
});

test("exporter-toolkit's sample web-config.yml loads: TLS, users, a rate limit", () => {
  const web = parse(`# TLS and basic authentication configuration example.
tls_server_config:
  cert_file: server.crt
  key_file: server.key
basic_auth_users:
  alice: $2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze
  bob: $2y$10$hLqFl9jSjoAAy95Z/zw8Ye8wkdMBM8c5Bn1ptYqP/AXyV0.oy0S8m
rate_limit:
  interval: "1s"
  burst: 20
`);
  assert.deepEqual(web.tls?.cert, { file: '/etc/probex/server.crt' }, 'relative to the web config');
  assert.deepEqual(web.tls?.key, { file: '/etc/probex/server.key' });
  assert.equal(web.tls?.clientAuth, 'NoClientCert');
  assert.equal(web.tls?.minVersion, 'TLS12');
  assert.equal(web.tls?.maxVersion, 'TLS13');
  assert.deepEqual(Object.keys(web.users), ['alice', 'bob']);
  assert.deepEqual(web.rateLimit, { intervalMs: 1000, burst: 20 });
  assert.deepEqual(needsNodeTls(web.tls!), [], 'uWS serves it');
  assert.equal(webGuard(web), 'basic_auth_users');
});

test('every exporter-toolkit TLS option maps to OpenSSL names, and says which needs Node tls', () => {
  const web = parse(`tls_server_config:
  cert_file: /certs/server.crt
  key_file: /certs/server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: /certs/ca.crt
  client_allowed_sans: [scraper.example, 10.0.0.1]
  min_version: TLS11
  max_version: TLS12
  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256]
  curve_preferences: [X25519, CurveP256, CurveP521]
http_server_config:
  http2: false
`);
  const tls = web.tls!;
  assert.deepEqual(
    tls.ciphers,
    ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305'],
    'TLS 1.3 names drop out',
  );
  assert.deepEqual(tls.curves, ['X25519', 'P-256', 'P-521']);
  assert.deepEqual(tls.allowedSans, ['scraper.example', '10.0.0.1']);
  assert.equal(web.http2, false);
  assert.deepEqual(needsNodeTls(tls), [
    'client_auth_type RequireAndVerifyClientCert',
    'client_allowed_sans',
    'min_version TLS11',
    'max_version TLS12',
    'curve_preferences',
  ]);
  assert.equal(webGuard(web), 'client certificates (RequireAndVerifyClientCert)');
});

test('uWS serves NoClientCert and VerifyClientCertIfGiven with a CA, with cipher_suites; the rest needs Node tls', () => {
  const tls = (extra: string) => parse(`tls_server_config:\n  cert_file: a\n  key_file: b\n${extra}`).tls!;
  assert.deepEqual(needsNodeTls(tls('  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n')), []);
  assert.deepEqual(needsNodeTls(tls('  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca\n')), []);
  assert.equal(needsNodeTls(tls('  client_auth_type: VerifyClientCertIfGiven\n')).length, 1, 'system roots');
  assert.deepEqual(needsNodeTls(tls('  client_auth_type: RequestClientCert\n')), [
    'client_auth_type RequestClientCert',
  ]);
  assert.deepEqual(needsNodeTls(tls('  client_auth_type: RequireClientCert\n')), [
    'client_auth_type RequireAnyClientCert',
  ]);
  assert.deepEqual(needsNodeTls(tls('  min_version: TLS13\n')), ['min_version TLS13']);
});

test('unknown fields are refused, naming the field, at every level', () => {
  assert.match(issues('tls_config: {}\n').join('\n'), /web\.yml: Unrecognized key: "tls_config"/);
  assert.match(
    issues('tls_server_config:\n  cert_file: a\n  key_file: b\n  sni: x\n').join('\n'),
    /tls_server_config: Unrecognized key: "sni"/,
  );
  assert.match(
    issues('http_server_config:\n  http3: true\n').join('\n'),
    /http_server_config: Unrecognized key: "http3"/,
  );
  assert.match(
    issues('rate_limit:\n  interval: 1s\n  burst: 1\n  per: ip\n').join('\n'),
    /rate_limit: Unrecognized key: "per"/,
  );
});

test('values exporter-toolkit does not know are refused, naming the field', () => {
  const tls = (extra: string) => issues(`tls_server_config:\n  cert_file: a\n  key_file: b\n${extra}`).join('\n');
  assert.match(tls('  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n'), /cipher_suites\.0: unknown cipher suite/);
  assert.match(tls('  curve_preferences: [CurveP224]\n'), /curve_preferences\.0:/);
  assert.match(tls('  min_version: TLS14\n'), /min_version:/);
  assert.match(tls('  client_auth_type: Sometimes\n'), /client_auth_type:/);
});

test('probex refuses what exporter-toolkit would silently do otherwise than the file says', () => {
  assert.match(issues('tls_server_config:\n  min_version: TLS13\n').join('\n'), /sets min_version but no certificate/);
  assert.match(issues('tls_server_config:\n  cert_file: a\n').join('\n'), /key: missing one of key or key_file/);
  assert.match(
    issues('tls_server_config:\n  cert_file: a\n  cert: "-----BEGIN CERTIFICATE-----"\n  key_file: b\n').join('\n'),
    /cert: set cert or cert_file, not both/,
  );
  const tls = (extra: string) => issues(`tls_server_config:\n  cert_file: a\n  key_file: b\n${extra}`).join('\n');
  assert.match(tls('  client_ca_file: ca\n'), /client CA is set but client_auth_type is NoClientCert/);
  assert.match(tls('  client_auth_type: RequireAndVerifyClientCert\n'), /needs client_ca_file/);
  assert.match(tls('  client_allowed_sans: [x]\n'), /client_allowed_sans: client certificates are not asked for/);
  assert.match(tls('  min_version: TLS13\n  max_version: TLS12\n'), /TLS13 is above max_version TLS12/);
  assert.match(tls('  cipher_suites: [TLS_AES_128_GCM_SHA256]\n'), /lists only TLS 1\.3 suites/);
  assert.equal(
    parse(
      `tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n`,
    ).tls?.ciphers?.length,
    0,
  );
});

test('prefer_server_cipher_suites is accepted with a warning: Go ignores it too', () => {
  const web = parse('tls_server_config:\n  cert_file: a\n  key_file: b\n  prefer_server_cipher_suites: false\n');
  assert.match(web.warnings.join('\n'), /prefer_server_cipher_suites has no effect, as in Go/);
});

test("headers: exporter-toolkit's list, its fixed values, blank means unset; nothing else", () => {
  const web = parse(`http_server_config:
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000; includeSubDomains
    X-Content-Type-Options: nosniff
    X-XSS-Protection: "1"
    Content-Security-Policy: ""
`);
  assert.deepEqual(web.headers, [
    ['x-frame-options', 'deny'],
    ['strict-transport-security', 'max-age=31536000; includeSubDomains'],
    ['x-content-type-options', 'nosniff'],
    ['x-xss-protection', '1'],
  ]);
  assert.match(
    issues('http_server_config:\n  headers:\n    Server: x\n').join('\n'),
    /headers\.Server: can not be configured/,
  );
  assert.match(
    issues('http_server_config:\n  headers:\n    X-Frame-Options: allow\n').join('\n'),
    /X-Frame-Options: must be one of deny, sameorigin/,
  );
  assert.match(
    issues('http_server_config:\n  headers:\n    Content-Security-Policy: "a\\r\\nSet-Cookie: x"\n').join('\n'),
    /must not contain control characters/,
  );
});

test('basic_auth_users: bcrypt hashes only, no colon in a name, and no message quotes a hash', () => {
  assert.deepEqual(parse(`basic_auth_users:\n  alice: ${HASH}\n`).users, { alice: HASH });
  const plain = issues('basic_auth_users:\n  alice: my-plain-password\n');
  assert.match(plain.join('\n'), /basic_auth_users\.alice: must be a bcrypt hash/);
  assert.ok(!plain.join('\n').includes('my-plain-password'));
  assert.match(issues(`basic_auth_users:\n  "a:b": ${HASH}\n`).join('\n'), /must not contain ":"/);
  const bad = issues(`basic_auth_users:\n  alice: ${HASH.slice(0, -1)}\n`).join('\n');
  assert.ok(!bad.includes(HASH.slice(7, 40)), 'the hash is not quoted');
});

test('rate_limit: Go durations, 0 disables it, burst 0 refuses everything (with a warning)', () => {
  assert.deepEqual(parse('rate_limit:\n  interval: 250ms\n  burst: 5\n').rateLimit, { intervalMs: 250, burst: 5 });
  assert.equal(parse('rate_limit:\n  interval: 0\n  burst: 5\n').rateLimit, undefined);
  const zero = parse('rate_limit:\n  interval: 1s\n  burst: 0\n');
  assert.deepEqual(zero.rateLimit, { intervalMs: 1000, burst: 0 });
  assert.match(zero.warnings.join('\n'), /every request to an authenticated route gets 429/);
  assert.match(
    issues('rate_limit:\n  interval: soon\n  burst: 1\n').join('\n'),
    /rate_limit\.interval: must be a Go duration/,
  );
});

test('goDurationMs reads Go durations', () => {
  assert.equal(goDurationMs('1s'), 1000);
  assert.equal(goDurationMs('1m30s'), 90_000);
  assert.equal(goDurationMs('1.5h'), 5_400_000);
  assert.equal(goDurationMs('500us'), 0.5);
  assert.equal(goDurationMs('0'), 0);
  assert.equal(goDurationMs(2_000_000_000), 2000, 'a number is nanoseconds');
  for (const bad of ['', '1', 's', '1d', '1s2', ' 1s']) assert.equal(goDurationMs(bad), undefined, bad);
});

test('YAML errors say where, without quoting the file', () => {
  const out = issues('basic_auth_users:\n  alice: "unterminated\n').join('\n');
  assert.match(out, /web\.yml:\d+:\d+: not valid YAML/);
  assert.match(issues('a: 1\n---\nb: 2\n').join('\n'), /2 YAML documents/);
  assert.match(issues('- a\n').join('\n'), /must be a YAML mapping/);
});

test('examples/web.yml is a valid web config that sets every option', async () => {
  const { readFileSync } = await import('node:fs');
  const path = new URL('../examples/web.yml', import.meta.url).pathname;
  const text = readFileSync(path, 'utf8');
  const web = parseWebConfig(text, path);
  assert.ok(web.tls !== undefined && 'file' in web.tls.cert);
  assert.equal(web.tls.clientAuth, 'VerifyClientCertIfGiven');
  assert.ok(Object.keys(web.users).length > 0 && web.rateLimit !== undefined && web.headers.length > 0);
  for (const field of [
    'client_allowed_sans',
    'curve_preferences',
    'min_version',
    'max_version',
    'cipher_suites',
    'http2',
  ])
    assert.match(text, new RegExp(`^\\s*#? ?${field}:`, 'm'), `documents ${field}`);
});

test('http2: true is accepted with a warning: uWebSockets.js speaks HTTP/1.1 only', () => {
  assert.match(parse('http_server_config:\n  http2: true\n').warnings.join('\n'), /HTTP\/1\.1 only/);
  assert.deepEqual(parse('http_server_config:\n  http2: false\n').warnings, []);
});
