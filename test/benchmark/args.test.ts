import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_DURATION_TEXT } from '../../src/config/fields.ts';
import { parseRunArgs, type RunOptions } from '../../src/benchmark/args.ts';

const BASE = ['--config', 'probex.yaml', '--duration', '30s', '--out', 'results'];

/** options parses argv that must be valid and returns the options. */
function options(argv: readonly string[], env: NodeJS.ProcessEnv = {}): RunOptions {
  const parsed = parseRunArgs(argv, env);
  assert.equal(parsed.kind, 'run', JSON.stringify(parsed));
  return (parsed as { options: RunOptions }).options;
}

/** problems parses argv that must be refused and returns the message's lines. */
function problems(argv: readonly string[], env: NodeJS.ProcessEnv = {}): string[] {
  const parsed = parseRunArgs(argv, env);
  assert.equal(parsed.kind, 'usage-error', JSON.stringify(parsed));
  return (parsed as { message: string }).message.split('\n');
}

describe('parseRunArgs', () => {
  test('the required flags give the options, with defaults for the rest', () => {
    assert.deepEqual(options(BASE), {
      configFile: 'probex.yaml',
      listen: undefined,
      durationMs: 30_000,
      out: 'results',
      force: false,
      slos: [],
      junit: undefined,
      remoteWrite: [],
    });
  });

  test('--help wins over everything else, even missing flags', () => {
    assert.deepEqual(parseRunArgs(['--help'], {}), { kind: 'help' });
    assert.deepEqual(parseRunArgs([...BASE, '--help', '--duration', 'soon'], {}), { kind: 'help' });
  });

  test('an unknown flag or a flag without its value is refused with what the parser says', () => {
    assert.deepEqual(problems([...BASE, '--nope']), ["Unknown option '--nope'"]);
    assert.deepEqual(problems(['--config', 'probex.yaml', '--duration', '1s', '--out']), [
      "Option '--out <value>' argument missing",
    ]);
    assert.match(problems([...BASE, 'extra'])[0]!, /Unexpected argument 'extra'/);
  });

  test('every missing flag is reported at once, one line each', () => {
    assert.deepEqual(problems([]), [
      '--config is required',
      '--out is required',
      `--duration must be a duration from 100ms to ${MAX_DURATION_TEXT}, e.g. 30s or 5m`,
    ]);
  });

  test('--duration runs from 100ms to the duration cap', () => {
    // '=-1s' is written --duration=-1s: a value that starts with a dash needs the = form.
    const at = (d: string): string[] =>
      d.startsWith('=')
        ? ['--config', 'c.yaml', '--out', 'o', `--duration${d}`]
        : ['--config', 'c.yaml', '--out', 'o', '--duration', d];
    assert.equal(options(at('100ms')).durationMs, 100);
    assert.equal(options(at('576h')).durationMs, 576 * 3_600_000);
    for (const d of ['99ms', '577h', '0s', 'soon', '=-1s', '']) {
      assert.deepEqual(
        problems(at(d)),
        [`--duration must be a duration from 100ms to ${MAX_DURATION_TEXT}, e.g. 30s or 5m`],
        d,
      );
    }
  });

  test('--out is required and kept as written; --force is a switch', () => {
    assert.deepEqual(problems(['--config', 'c.yaml', '--duration', '1s']), ['--out is required']);
    assert.equal(options(['--config', 'c.yaml', '--duration', '1s', '--out', './a dir/ü']).out, './a dir/ü');
    assert.equal(options([...BASE, '--force']).force, true);
    assert.match(problems([...BASE, '--force=yes'])[0]!, /--force.*does not take an argument/);
  });

  test('--listen takes PORT, HOST:PORT or [IPv6]:PORT; the brackets are dropped', () => {
    assert.deepEqual(options([...BASE, '--listen', '9469']).listen, { port: '9469' });
    assert.deepEqual(options([...BASE, '--listen', '127.0.0.1:0']).listen, { host: '127.0.0.1', port: '0' });
    assert.deepEqual(options([...BASE, '--listen', '[::1]:9469']).listen, { host: '::1', port: '9469' });
    for (const bad of ['', 'host', '::1:9469', '9469:', '1234567', 'a b:1']) {
      assert.deepEqual(
        problems([...BASE, '--listen', bad]),
        ['--listen must be PORT or HOST:PORT, e.g. 9469 or 127.0.0.1:9469'],
        bad,
      );
    }
  });

  test('--slo values are kept as given, for the run to parse against the config', () => {
    assert.deepEqual(options([...BASE, '--slo', 'redis:p99<5ms', '--slo', '*:errors<1%,redis:max<1s']).slos, [
      'redis:p99<5ms',
      '*:errors<1%,redis:max<1s',
    ]);
  });

  test('--junit names a file; an empty name is refused', () => {
    assert.equal(options([...BASE, '--junit', 'junit.xml']).junit, 'junit.xml');
    assert.deepEqual(problems([...BASE, '--junit', '']), ['--junit needs a file name']);
  });

  test('problems of different flags are reported together', () => {
    assert.deepEqual(
      problems(['--config', 'c.yaml', '--duration', '50ms', '--out', 'o', '--listen', 'x', '--junit', '']),
      [
        `--duration must be a duration from 100ms to ${MAX_DURATION_TEXT}, e.g. 30s or 5m`,
        '--listen must be PORT or HOST:PORT, e.g. 9469 or 127.0.0.1:9469',
        '--junit needs a file name',
      ],
    );
  });
});

describe('parseRunArgs: --remote-write and --remote-write-header', () => {
  const URL_A = 'https://prom.example/api/v1/write';

  test('each URL is an endpoint carrying every header, names and values trimmed', () => {
    const { remoteWrite } = options([
      ...BASE,
      '--remote-write',
      URL_A,
      '--remote-write',
      'http://127.0.0.1:9090/api/v1/write',
      '--remote-write-header',
      'X-Scope-OrgID:  team-a ',
      '--remote-write-header',
      ' X-Extra :a: b',
    ]);
    const headers = { 'X-Scope-OrgID': 'team-a', 'X-Extra': 'a: b' };
    assert.deepEqual(remoteWrite, [
      { url: URL_A, headers },
      { url: 'http://127.0.0.1:9090/api/v1/write', headers },
    ]);
  });

  test('a header that is not "Name: value" on one line is refused', () => {
    for (const bad of ['X-Scope-OrgID team-a', ': value', 'Bad Name: v', 'X-A: a\r\nX-B: b', 'X-A: a\0']) {
      assert.deepEqual(
        problems([...BASE, '--remote-write', URL_A, '--remote-write-header', bad]),
        ['--remote-write-header must be "Name: value" on one line, e.g. "X-Scope-OrgID: team-a"'],
        JSON.stringify(bad),
      );
    }
  });

  test('headers the protocol sets, and credentials, cannot come from argv', () => {
    assert.deepEqual(
      problems([...BASE, '--remote-write', URL_A, '--remote-write-header', 'content-type: text/plain']),
      ['--remote-write-header content-type: remote write sets this header itself'],
    );
    assert.deepEqual(problems([...BASE, '--remote-write', URL_A, '--remote-write-header', 'Authorization: Bearer x']), [
      '--remote-write-header Authorization: credentials come from PROBEX_REMOTE_WRITE_USERNAME/_PASSWORD or PROBEX_REMOTE_WRITE_BEARER_TOKEN, never from argv',
    ]);
  });

  test('a header needs a URL to go with', () => {
    assert.deepEqual(problems([...BASE, '--remote-write-header', 'X-Scope-OrgID: a']), [
      '--remote-write-header needs a --remote-write URL',
    ]);
  });

  test('a URL must be http(s) without credentials, and is shown redacted', () => {
    assert.deepEqual(problems([...BASE, '--remote-write', 'ftp://prom.example/write']), [
      '--remote-write ftp://prom.example/write: not an http:// or https:// URL',
    ]);
    assert.deepEqual(problems([...BASE, '--remote-write', 'not a url']), [
      '--remote-write not a url: not an http:// or https:// URL',
    ]);
    const [line] = problems([...BASE, '--remote-write', 'https://me:hunter2@prom.example/write']);
    assert.match(line!, /credentials in the URL would be on the command line/);
    assert.ok(!line!.includes('hunter2'), line);
  });

  test('credentials come from the environment: a bearer token or a user and password, not both', () => {
    const bearer = options([...BASE, '--remote-write', URL_A], { PROBEX_REMOTE_WRITE_BEARER_TOKEN: 'tok' });
    assert.deepEqual(bearer.remoteWrite, [{ url: URL_A, headers: { Authorization: 'Bearer tok' } }]);
    const basic = options([...BASE, '--remote-write', URL_A], {
      PROBEX_REMOTE_WRITE_USERNAME: 'u',
      PROBEX_REMOTE_WRITE_PASSWORD: 'p:w',
    });
    assert.deepEqual(basic.remoteWrite, [
      { url: URL_A, headers: { Authorization: `Basic ${Buffer.from('u:p:w').toString('base64')}` } },
    ]);
    assert.deepEqual(
      problems([...BASE, '--remote-write', URL_A], {
        PROBEX_REMOTE_WRITE_BEARER_TOKEN: 'tok',
        PROBEX_REMOTE_WRITE_PASSWORD: 'p',
      }),
      ['PROBEX_REMOTE_WRITE_BEARER_TOKEN and PROBEX_REMOTE_WRITE_USERNAME/_PASSWORD: set one or the other'],
    );
    assert.deepEqual(problems([...BASE, '--remote-write', URL_A], { PROBEX_REMOTE_WRITE_USERNAME: 'a:b' }), [
      'PROBEX_REMOTE_WRITE_USERNAME must not contain ":"',
    ]);
  });

  test('without --remote-write the environment is not read', () => {
    assert.deepEqual(
      options(BASE, { PROBEX_REMOTE_WRITE_USERNAME: 'a:b', PROBEX_REMOTE_WRITE_BEARER_TOKEN: 't' }).remoteWrite,
      [],
    );
  });
});
