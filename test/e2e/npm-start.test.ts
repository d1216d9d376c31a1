/**
 * `npm start` and `npm run start:dist` as a user or a process manager runs them: SIGTERM to npm's own pid
 * must stop probex. npm forwards SIGTERM to the child it spawned, which is `sh -c <script>`; dash does not
 * pass the signal on to a command it waits for, so unless the script execs node, probex is orphaned and
 * keeps its port.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { accepts, freePort, onLines, waitFor, writeConfig } from '../../support/probex-process.ts';
import { startDist } from '../../support/start-dist.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const linuxOnly = process.platform === 'linux' ? {} : { skip: 'the process tree is read from /proc' };

/**
 * processGroup lists the live pids in process group pgid: /proc/<pid>/stat fields 3 (state) and 5 (pgrp),
 * after the name, which may hold spaces. A zombie has ended and waits only to be reaped, so it is left out.
 */
function processGroup(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') pids.push(Number(entry));
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return pids;
}

/** runScript starts `npm run <script> -- --config <file>` as the leader of a new process group and waits until probex listens. */
async function runScript(
  script: string,
  port: number,
): Promise<{ npm: ChildProcess; logs: Array<Record<string, unknown>> }> {
  const config = writeConfig(
    `listen: { host: 127.0.0.1, port: ${port} }\npublishInterval: 100ms\ntargets:\n  - { name: s, kind: synthetic }\n`,
  );
  const npm = spawn('npm', ['run', script, '--', '--config', config], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  onLines(npm.stdout!, (line) => {
    if (line.startsWith('{')) logs.push(JSON.parse(line) as Record<string, unknown>);
  });
  let stderr = '';
  npm.stderr!.on('data', (d: Buffer) => {
    stderr += d;
  });
  await waitFor(
    `probex listening under npm run ${script}`,
    async () => {
      if (npm.exitCode !== null) throw new Error(`npm exited ${npm.exitCode}: ${stderr}`);
      return logs.some((l) => l.msg === 'probex listening') ? true : undefined;
    },
    30_000,
  );
  return { npm, logs };
}

before(async () => {
  // start:dist runs the build.
  const build = spawn('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
  assert.equal(await new Promise((resolve) => build.on('exit', resolve)), 0, 'npm run build');
});

for (const script of ['start', 'start:dist']) {
  test(
    `npm run ${script}, then SIGTERM to npm's pid: probex shuts down and no process of the tree survives`,
    linuxOnly,
    async (t) => {
      const port = await freePort();
      const { npm, logs } = await runScript(script, port);
      const pgid = npm.pid!;
      t.after(() => {
        // Whatever survived is this test's own process group.
        if (processGroup(pgid).length > 0) process.kill(-pgid, 'SIGKILL');
      });
      const tree = processGroup(pgid);
      assert.ok(tree.length >= 2, `npm and probex at least: ${tree}`);
      if (script === 'start:dist') {
        // bin/probex-dist exec'd node with its flags and environment, and no shell stayed in between.
        const { nodeFlags, env, entry } = startDist();
        const argv = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        const node = tree.filter((pid) => argv(pid).some((arg) => arg.endsWith(entry)));
        assert.equal(node.length, 1, `one node runs ${entry}: ${tree.map((pid) => argv(pid).join(' ')).join(' | ')}`);
        const args = argv(node[0]!);
        assert.deepEqual(args.slice(1, nodeFlags.length + 1), nodeFlags, "the launcher's flags");
        assert.deepEqual(args.slice(nodeFlags.length + 2, -1), ['--config', args.at(-2)!], 'the arguments passed on');
        const environ = readFileSync(`/proc/${node[0]}/environ`, 'utf8').split('\0');
        for (const [name, value] of Object.entries(env)) assert.ok(environ.includes(`${name}=${value}`), name);
        assert.ok(
          tree.every((pid) => !/^(ba|da)?sh$/.test(argv(pid)[0]!.split('/').at(-1)!)),
          'no shell in the tree',
        );
      }

      process.kill(npm.pid!, 'SIGTERM');
      await waitFor(
        'every process of the tree to exit',
        async () => (processGroup(pgid).length === 0 ? true : undefined),
        10_000,
      ).catch((err: Error) =>
        assert.fail(
          `${err.message}; still running: ${processGroup(pgid)
            .map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '))
            .join(' | ')}`,
        ),
      );
      assert.ok(!(await accepts(port)), `port ${port} no longer accepts connections`);
      assert.ok(
        logs.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM'),
        'probex itself received SIGTERM and shut down',
      );
    },
  );
}
