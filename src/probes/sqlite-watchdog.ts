/**
 * The sqlite child's guard against outliving its parent (workers/sqlite-child.ts). The parent kills the
 * child at a deadline, on reload and on close; but a parent that dies, or a probe worker thread that is
 * terminated (the pool's shutdown), kills nothing. The child's own event loop would see its IPC channel
 * close, but not while a query holds it: better-sqlite3 is synchronous. So a small thread of its own
 * blocks on a pipe the parent never writes to (fd PARENT_WATCH_FD): the read returns end-of-file as soon
 * as the parent's end closes, whatever closed it, and the thread then SIGKILLs its own process. SIGKILL
 * is harmless here: the connection is read-only, and SQLite is safe against a process that dies at any
 * point; a terminate or an exit could instead abort in a native call (see src/probes/sqlite.ts).
 */
import { Worker } from 'node:worker_threads';

/** PARENT_WATCH_FD is the child's end of the pipe whose end-of-file says the parent is gone. */
export const PARENT_WATCH_FD = 4;

/**
 * WATCH_SOURCE is the thread's code, CommonJS eval'd as it is: no loader needed, in dev or in dist. A
 * non-blocking descriptor (EAGAIN) is polled every 50 ms instead; any other error is taken as the parent
 * being gone, as end-of-file is.
 */
const WATCH_SOURCE = `
const { readSync } = require('node:fs');
const { workerData } = require('node:worker_threads');
const one = Buffer.alloc(1);
const nap = new Int32Array(new SharedArrayBuffer(4));
for (;;) {
  let n = 0;
  try {
    n = readSync(workerData.fd, one);
  } catch (err) {
    if (err.code === 'EAGAIN') { Atomics.wait(nap, 0, 0, 50); continue; }
  }
  if (n === 0) break;
}
process.kill(process.pid, 'SIGKILL');
`;

/** watchParent starts the thread that kills this process once its parent is gone. */
export function watchParent(): void {
  const watcher = new Worker(WATCH_SOURCE, {
    eval: true,
    workerData: { fd: PARENT_WATCH_FD },
    // Not the parent's loader flags (tsx): the thread runs plain CommonJS.
    execArgv: [],
    resourceLimits: { maxOldGenerationSizeMb: 4, maxYoungGenerationSizeMb: 1 },
  });
  // It never keeps the process alive on its own: an idle child ends when its IPC channel closes.
  watcher.unref();
}
