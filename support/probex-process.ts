/**
 * Starts the real probex process the way a user does, and reads its JSON log lines. It runs the sources
 * under tsx (`npm start`), or the build in dist/ (`npm run start:dist`) when PROBEX_ENTRY=dist.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { startDist } from './start-dist.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DIST = process.env.PROBEX_ENTRY === 'dist' ? startDist() : undefined;
/** NODE_ARGS start probex: node's own flags and the entry script, without probex's arguments. */
export const NODE_ARGS =
  DIST !== undefined
    ? [...DIST.nodeFlags, join(ROOT, DIST.entry)] // as `npm run start:dist`
    : // node with tsx's loader (no tsx CLI wrapper in between), so signals reach probex itself.
      ['--import', 'tsx', join(ROOT, 'src/main.ts')];
/** NODE_ENV_VARS are the variables `npm run start:dist` sets for node (none under tsx). */
export const NODE_ENV_VARS = DIST?.env ?? {};

/** ProbexProcess is a running probex with its parsed log lines. */
export interface ProbexProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  readonly logs: Array<Record<string, unknown>>;
  /** output is everything the process wrote so far, as written: stdout and stderr. */
  output(): { readonly stdout: string; readonly stderr: string };
  readonly configPath: string | undefined;
  /** exit resolves with the exit code (or signal) once the process ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/** freePort asks the kernel for a free loopback port. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** accepts resolves whether something accepts TCP connections on 127.0.0.1:port (one attempt). */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** writeConfig writes YAML into a fresh temp dir and returns its path. */
export function writeConfig(yaml: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'probex-e2e-')), 'probex.yaml');
  writeFileSync(path, yaml);
  return path;
}

/** SpawnedProbex is a probex process started with spawnProbex: its output so far, and its end. */
export interface SpawnedProbex {
  readonly child: ChildProcess;
  /** output is everything the process wrote so far, as written: stdout and stderr. */
  output(): { readonly stdout: string; readonly stderr: string };
  /** exited resolves with the exit code and the whole output once the process ended. */
  readonly exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** spawnProbex starts probex with `args` (e.g. `run ...`) and collects what it writes. */
export function spawnProbex(args: string[], env: NodeJS.ProcessEnv = {}): SpawnedProbex {
  const child = spawn(process.execPath, [...NODE_ARGS, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...NODE_ENV_VARS, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d;
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d;
  });
  return {
    child,
    output: () => ({ stdout, stderr }),
    exited: new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr }))),
  };
}

/** runProbex runs probex to completion (for --check-config and bad configs). */
export function runProbex(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return spawnProbex(args, env).exited;
}

/** onLines calls `each` with every complete line a child's output stream writes (its log, a JSON line each). */
export function onLines(stream: Readable, each: (line: string) => void): void {
  let buffered = '';
  stream.on('data', (d: Buffer) => {
    buffered += d;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      each(line);
    }
  });
}

/**
 * startProbex starts probex with a YAML config (or the embedded default when yaml is undefined; `extraArgs`
 * are appended, e.g. --directus-env) and resolves once it logs that it listens. Its port comes from that log line.
 */
export async function startProbex(
  yaml: string | undefined,
  env: NodeJS.ProcessEnv = {},
  extraArgs: readonly string[] = [],
): Promise<ProbexProcess> {
  const configPath = yaml === undefined ? undefined : writeConfig(yaml);
  const args = [...NODE_ARGS, ...(configPath === undefined ? [] : ['--config', configPath]), ...extraArgs];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...NODE_ENV_VARS, PROBEX_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`probex did not start within 15s; stderr: ${stderr}`)), 15_000);
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d;
    });
    onLines(child.stdout!, (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'probex listening') {
          clearTimeout(timer);
          resolve(entry.port as number);
        }
      } catch (err) {
        logs.push({ unparsed: line, error: String(err) });
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`probex exited with ${code} before listening; stderr: ${stderr}`));
    });
  });
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    logs,
    configPath,
    exited,
    output: () => ({ stdout, stderr }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** waitFor polls fn until it returns a value that is not undefined, or fails after timeoutMs. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
}
