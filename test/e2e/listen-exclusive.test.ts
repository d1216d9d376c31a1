/**
 * Two real probex processes on one host:port. uWS's default listen sets SO_REUSEPORT, with which a second
 * process binds the same port and the kernel spreads new connections over both, so scrapes reach either
 * one at random. probex listens exclusively: the second must exit 1 saying "address in use", and every
 * scrape, on a fresh connection each, must reach the first.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { freePort, NODE_ARGS, NODE_ENV_VARS, startProbex, waitFor, writeConfig } from '../../support/probex-process.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** SECOND_EXIT_MS bounds how long the second process may take to start and give up. */
const SECOND_EXIT_MS = 15_000;
/** SCRAPES_AFTER is how many more fresh-connection scrapes must reach the first once the second is gone. */
const SCRAPES_AFTER = 30;

const config = (port: number, target: string): string => `
listen: { host: 127.0.0.1, port: ${port} }
publishInterval: 100ms
targets:
  - { name: ${target}, kind: synthetic, interval: 50ms }
`;

/** whoAnswers scrapes /metrics on a new connection and names the instance by its one target ('none' for a non-200). */
function whoAnswers(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () =>
        resolve(
          res.statusCode === 200
            ? (/target="(first|second)"/.exec(body)?.[1] ?? 'unnamed')
            : `status ${res.statusCode}`,
        ),
      );
    });
    req.on('error', reject);
  });
}

test('a second probex on a host:port in use exits 1 with "address in use"; every scrape reaches the first', async (t) => {
  const port = await freePort();
  const first = await startProbex(config(port, 'first'));
  t.after(() => first.stop());
  await waitFor("the first instance's first snapshot", async () =>
    (await whoAnswers(port)) === 'first' ? true : undefined,
  );

  const second = spawn(process.execPath, [...NODE_ARGS, '--config', writeConfig(config(port, 'second'))], {
    cwd: ROOT,
    env: { ...process.env, ...NODE_ENV_VARS },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (second.exitCode === null && second.signalCode === null) second.kill('SIGKILL');
  });
  let output = '';
  second.stdout.on('data', (d: Buffer) => {
    output += d;
  });
  second.stderr.on('data', (d: Buffer) => {
    output += d;
  });
  let exitCode: number | null | undefined;
  second.on('exit', (code) => {
    exitCode = code;
  });

  // Scrape on fresh connections for as long as the second process lives (a shared port shows here).
  const answers = new Map<string, number>();
  const count = (who: string): void => {
    answers.set(who, (answers.get(who) ?? 0) + 1);
  };
  const deadline = Date.now() + SECOND_EXIT_MS;
  while (exitCode === undefined && Date.now() < deadline) count(await whoAnswers(port));
  for (let i = 0; i < SCRAPES_AFTER; i++) count(await whoAnswers(port));

  assert.deepEqual([...answers.keys()], ['first'], `who answered: ${JSON.stringify([...answers])}`);
  assert.equal(
    exitCode,
    1,
    `the second process exited with ${exitCode} (undefined: still running); output: ${output.slice(0, 2000)}`,
  );
  assert.match(output, /address in use/);
  assert.equal(first.child.exitCode, null, 'the first instance is still running');
});
