/**
 * Starts the real probex process (tsx src/main.ts) the way a user does, and reads its JSON log lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(ROOT, 'node_modules/.bin/tsx');

/** ProbexProcess is a running probex with its parsed log lines. */
export interface ProbexProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  readonly logs: Array<Record<string, unknown>>;
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

/** writeConfig writes YAML into a fresh temp dir and returns its path. */
export function writeConfig(yaml: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'probex-e2e-')), 'probex.yaml');
  writeFileSync(path, yaml);
  return path;
}

/** runProbex runs probex to completion (for --check-config and bad configs). */
export function runProbex(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(TSX, [join(ROOT, 'src/main.ts'), ...args], { cwd: ROOT, env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d; });
  child.stderr.on('data', (d: Buffer) => { stderr += d; });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

/**
 * startProbex starts probex with a YAML config (or the embedded default when yaml is undefined) and
 * resolves once it logs that it listens. Its port comes from that log line.
 */
export async function startProbex(yaml: string | undefined, env: NodeJS.ProcessEnv = {}): Promise<ProbexProcess> {
  const configPath = yaml === undefined ? undefined : writeConfig(yaml);
  const args = [join(ROOT, 'src/main.ts'), ...(configPath === undefined ? [] : ['--config', configPath])];
  // Run node directly with tsx's loader (no tsx CLI wrapper in between), so signals reach probex itself.
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT, env: { ...process.env, PROBEX_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })));
  let buffered = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`probex did not start within 15s; stderr: ${stderr}`)), 15_000);
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
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
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`probex exited with ${code} before listening; stderr: ${stderr}`));
    });
  });
  return {
    child, port, url: `http://127.0.0.1:${port}`, logs, configPath, exited,
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
