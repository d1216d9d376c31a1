/**
 * Reloads (SIGHUP) never open access by accident and never print file content: the real probex process,
 * its config and token files rewritten on disk (or replaced by a FIFO or a device), and what /metrics and
 * the JSON log lines say after.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { parseExposition, sampleValue } from '../../support/exposition.ts';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';

const TOKEN = 'reload-auth-token-1';
/** SECRET stands for a real token in a broken file: no part of it may reach the log (LEAK: its first 8 characters). */
const SECRET = 'Zq9xW3kP-secret';
const LEAK = SECRET.slice(0, 8);
const TARGET = '{ name: s, kind: synthetic, interval: 50ms, distribution: { type: constant, valueMs: 1 } }';

const started: ProbexProcess[] = [];
after(async () => {
  for (const p of started) {
    await p.stop();
    if (p.configPath !== undefined) rmSync(dirname(p.configPath), { recursive: true, force: true });
  }
});

async function start(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<ProbexProcess> {
  const p = await startProbex(yaml, env);
  started.push(p);
  return p;
}

/** metrics GETs /metrics, with a token when given. */
const metrics = (p: ProbexProcess, token?: string): Promise<Response> =>
  fetch(`${p.url}/metrics`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

/** reloads waits until /metrics counts `total` reloads and returns the failures among them. */
async function reloads(p: ProbexProcess, total: number, token?: string): Promise<number> {
  return waitFor(
    `reload ${total} to show in /metrics`,
    async () => {
      const res = await metrics(p, token);
      if (res.status !== 200) return undefined;
      const samples = parseExposition(await res.text());
      return sampleValue(samples, 'probex_config_reloads_total') === total
        ? sampleValue(samples, 'probex_config_reload_failures_total')
        : undefined;
    },
    15_000,
  );
}

function hup(p: ProbexProcess, yaml?: string): void {
  if (yaml !== undefined) writeFileSync(p.configPath!, yaml);
  assert.ok(p.child.kill('SIGHUP'), 'SIGHUP delivered');
}

/** reloadErrors are the logged reasons of failed reloads, one string per failure. */
const reloadErrors = (p: ProbexProcess): string[] =>
  p.logs.filter((l) => l.level === 50 && /config reload failed/.test(String(l.msg))).map((l) => JSON.stringify(l.err));

test('a reload never goes from tokens to open unless the new config says auth.open: true', async () => {
  const probex = await start('listen: { host: 127.0.0.1, port: 0 }\ntargets: []\n');
  const tokenFile = join(dirname(probex.configPath!), 'tokens');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const withFile = `listen: { host: 127.0.0.1, port: 0 }\npublishInterval: 100ms\nauth: { tokenFile: ${tokenFile} }\ntargets:\n  - ${TARGET}\n`;
  hup(probex, withFile);
  assert.equal(await reloads(probex, 1, TOKEN), 0);
  assert.equal((await metrics(probex)).status, 401, 'the token file closed it');

  // The token file emptied (a secret being rewritten, a bad mount): the running tokens stay.
  writeFileSync(tokenFile, '');
  hup(probex);
  assert.equal(await reloads(probex, 2, TOKEN), 1);
  assert.equal((await metrics(probex)).status, 401, 'still closed without a token');
  assert.match(reloadErrors(probex)[0]!, /holds no tokens/);

  // The token file gone.
  rmSync(tokenFile);
  hup(probex);
  assert.equal(await reloads(probex, 3, TOKEN), 2);
  assert.equal((await metrics(probex)).status, 401);
  assert.match(reloadErrors(probex)[1]!, /cannot read .*ENOENT/);

  // auth removed from the config.
  hup(probex, `listen: { host: 127.0.0.1, port: 0 }\npublishInterval: 100ms\ntargets:\n  - ${TARGET}\n`);
  assert.equal(await reloads(probex, 4, TOKEN), 3);
  assert.equal((await metrics(probex)).status, 401);
  assert.match(reloadErrors(probex)[2]!, /no token .*auth\.open: true/);

  // A YAML error on a line holding a token: the log has file:line:column and the reason, never the line.
  hup(probex, `publishInterval: 100ms\nauth:\n  tokens:\n    - { token: "${SECRET}", permissions: [metrics]\n  oops\n`);
  assert.equal(await reloads(probex, 5, TOKEN), 4);
  assert.equal((await metrics(probex)).status, 401);
  assert.ok(!JSON.stringify(probex.logs).includes(LEAK), 'no part of the token reaches the log');
  assert.ok(
    reloadErrors(probex)[3]!.includes(`${probex.configPath}:5:3: not valid YAML: deficient indentation`),
    reloadErrors(probex)[3],
  );

  // Saying so opens it.
  hup(
    probex,
    `listen: { host: 127.0.0.1, port: 0 }\npublishInterval: 100ms\nauth: { open: true }\ntargets:\n  - ${TARGET}\n`,
  );
  assert.equal(await reloads(probex, 6), 4);
  assert.equal((await metrics(probex)).status, 200, 'open on purpose');
});

test('a reload to an open config is refused while probex listens beyond loopback, whatever the new listen.host', async () => {
  const probex = await start(
    `listen: { host: 0.0.0.0, port: 0 }\npublishInterval: 100ms\nauth: { open: true }\ntargets:\n  - ${TARGET}\n`,
  );
  // The listen address changes only on restart: the running listener is 0.0.0.0 whatever this says.
  hup(probex, `listen: { host: 127.0.0.1, port: 0 }\npublishInterval: 100ms\ntargets:\n  - ${TARGET}\n`);
  assert.equal(await reloads(probex, 1), 1);
  assert.match(reloadErrors(probex)[0]!, /0\.0\.0\.0, not a loopback address/);

  hup(
    probex,
    `listen: { host: 0.0.0.0, port: 0 }\npublishInterval: 100ms\nauth: { tokens: [{ token: ${TOKEN} }] }\ntargets:\n  - ${TARGET}\n`,
  );
  assert.equal(await reloads(probex, 2, TOKEN), 1);
  assert.equal((await metrics(probex)).status, 401, 'a token closes it');
});

test('a permissive file holding tokens is warned about at start and on every reload', async () => {
  const yaml = `listen: { host: 127.0.0.1, port: 0 }\npublishInterval: 100ms\nauth: { tokens: [{ token: ${TOKEN} }] }\ntargets: []\n`;
  // writeConfig creates the file with the umask's mode: 022 makes it 0644, readable by group and others.
  const umask = process.umask(0o022);
  const probex = await start(yaml).finally(() => process.umask(umask));
  const warnings = (): number =>
    probex.logs.filter(
      (l) =>
        l.level === 40 &&
        String(l.msg).includes(`${probex.configPath} holds tokens`) &&
        String(l.msg).includes('mode 0644') &&
        String(l.msg).includes('chmod 600'),
    ).length;
  assert.equal(warnings(), 1, 'at start');
  hup(probex);
  assert.equal(await reloads(probex, 1, TOKEN), 0);
  assert.equal(warnings(), 2, 'on reload');
  chmodSync(probex.configPath!, 0o600);
  hup(probex);
  assert.equal(await reloads(probex, 2, TOKEN), 0);
  assert.equal(warnings(), 2, 'none once it is 0600');
});

test('a token file that becomes a FIFO or /dev/zero fails its reload at once, logged and counted; the next reload still runs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'probex-reload-fifo-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const tokenFile = join(dir, 'tokens');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const yaml = `listen: { host: 127.0.0.1, port: 0 }\npublishInterval: 100ms\nauth: { tokenFile: ${tokenFile} }\ntargets:\n  - ${TARGET}\n`;
  const probex = await start(yaml);
  const lastOk = async (): Promise<number | undefined> =>
    sampleValue(parseExposition(await (await metrics(probex, TOKEN)).text()), 'probex_config_last_reload_successful');

  // A FIFO nobody writes to: a plain open would block the reload, and every later one behind it.
  rmSync(tokenFile);
  execFileSync('mkfifo', ['-m', '600', tokenFile]);
  hup(probex);
  assert.equal(await reloads(probex, 1, TOKEN), 1);
  assert.equal(await lastOk(), 0);
  assert.match(reloadErrors(probex)[0]!, /cannot read \S+tokens: a FIFO, not a regular file/);

  // A symlink to /dev/zero: refused without reading a byte of it.
  rmSync(tokenFile);
  symlinkSync('/dev/zero', tokenFile);
  const rssBefore = rssKiB(probex.child.pid!);
  hup(probex);
  assert.equal(await reloads(probex, 2, TOKEN), 2);
  assert.match(reloadErrors(probex)[1]!, /cannot read \S+tokens: a character device, not a regular file/);
  assert.ok(rssKiB(probex.child.pid!) - rssBefore < 64 * 1024, 'no unbounded read');

  // The file restored: the next SIGHUP reloads, nothing queued behind a stuck one.
  rmSync(tokenFile);
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  hup(probex);
  assert.equal(await reloads(probex, 3, TOKEN), 2);
  assert.equal(await lastOk(), 1);
});

/** rssKiB reads a process's resident set size from /proc. */
function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}
