/**
 * What a person sees at start: on a terminal, readable lines and one line with the addresses to open; in a
 * pipe (containers, CI), JSON lines carrying the same addresses; PROBEX_LOG_FORMAT overrides either way.
 * The terminal is a real pseudo-terminal made by util-linux's `script`.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { browsableUrl } from '../../src/process/serve.ts';
import { freePort } from '../../support/probex-process.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const hasScript = spawnSync('script', ['--version']).error === undefined;
const needScript =
  hasScript || process.env.CI === 'true' ? {} : { skip: 'script (util-linux) not installed: apt-get install bsdutils' };

/** firstLines runs probex (optionally under a pseudo-terminal) until `until` matches its output, then stops it. */
function firstLines(env: Record<string, string>, tty: boolean, until: RegExp): Promise<string> {
  const command = `exec ${process.execPath} --import tsx ${MAIN}`;
  const child = tty
    ? spawn('script', ['-qfec', command, '/dev/null'], { cwd: ROOT, env: { ...process.env, ...env }, detached: true })
    : spawn('sh', ['-c', command], { cwd: ROOT, env: { ...process.env, ...env }, detached: true });
  let out = '';
  const closed = new Promise((resolve) => child.once('close', resolve));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no match for ${until} in:\n${out}`)), 20_000);
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // Already gone.
      }
      void closed.then(() => (err === undefined ? resolve(out) : reject(err)));
    };
    let done = false;
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!done && until.test(out)) {
        done = true;
        finish();
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    void closed.then(() => {
      if (done) return;
      done = true;
      finish(new Error(`probex ended before ${until} matched:\n${out}`));
    });
  });
}

test('on a terminal: readable lines and one line with the status page and /metrics addresses', needScript, async () => {
  const coloured = await firstLines(
    { PROBEX_PORT: String(await freePort()), PROBEX_LOG_FORMAT: '' },
    true,
    /probex listening/,
  );
  assert.ok(coloured.includes('\x1b[32mINFO'), 'a terminal gets colours');
  const out = stripVTControlCharacters(coloured);
  assert.match(out, /INFO: main: status page http:\/\/127\.0\.0\.1:\d+\/ · metrics http:\/\/127\.0\.0\.1:\d+\/metrics/);
  assert.doesNotMatch(out, /^\{"level"/m, 'no JSON line on a terminal');
});

test('in a pipe: JSON lines, the listening line carrying the addresses', async () => {
  const out = await firstLines({ PROBEX_PORT: String(await freePort()) }, false, /"msg":"probex listening"/);
  const listening = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => l.msg === 'probex listening');
  assert.ok(listening, out);
  assert.equal(listening.url, `http://127.0.0.1:${String(listening.port)}/`);
  assert.equal(listening.metrics, `http://127.0.0.1:${String(listening.port)}/metrics`);
  assert.doesNotMatch(out, /status page http/);
});

test('PROBEX_LOG_FORMAT overrides the terminal, and an unknown format is refused with exit 2', needScript, async () => {
  const out = await firstLines(
    { PROBEX_PORT: String(await freePort()), PROBEX_LOG_FORMAT: 'json' },
    true,
    /"msg":"probex listening"/,
  );
  assert.match(out, /^\{"level":30/m);
  const bad = spawnSync(process.execPath, ['--import', 'tsx', MAIN], {
    cwd: ROOT,
    env: { ...process.env, PROBEX_LOG_FORMAT: 'xml' },
    encoding: 'utf8',
  });
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr, 'PROBEX_LOG_FORMAT: must be json or pretty, not "xml"\n');
});

test('the address to open: wildcards become loopback, IPv6 is bracketed', () => {
  assert.equal(browsableUrl('http', '0.0.0.0', 9469), 'http://127.0.0.1:9469/');
  assert.equal(browsableUrl('https', '::', 9469), 'https://[::1]:9469/');
  assert.equal(browsableUrl('http', '::1', 1), 'http://[::1]:1/');
  assert.equal(browsableUrl('http', '10.0.0.7', 80), 'http://10.0.0.7:80/');
});
