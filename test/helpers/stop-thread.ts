/**
 * stopThread stops one thread of a running process (stop-thread.pl, ptrace) until `resume`: a real stall of
 * that thread while the rest of the process goes on. Linux x86_64; needs perl and permission to ptrace.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./stop-thread.pl', import.meta.url));

/** StoppedThread is a thread held stopped; resume lets it run again. */
export interface StoppedThread {
  resume(): Promise<void>;
}

/** stopThread resolves once thread `tid` is stopped, or rejects with the reason it could not be. */
export function stopThread(tid: number): Promise<StoppedThread> {
  const child = spawn('perl', [SCRIPT, String(tid)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject); // perl missing
    child.stdout.on('data', (d: Buffer) => {
      if (!String(d).startsWith('stopped')) return;
      resolve({
        async resume() {
          child.stdin.end();
          await exited;
        },
      });
    });
    void exited.then((code) => reject(new Error(`stop-thread.pl exited with ${code}: ${stderr.trim()}`)));
  });
}
