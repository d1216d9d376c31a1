/**
 * The thread of one sqlite prober (src/probes/sqlite.ts): it answers each SqliteRequest with one run of
 * the target's query. A thin adapter (STYLE.md): the work is src/probes/sqlite-session.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SqliteReply, SqliteRequest } from '../src/probes/sqlite.ts';
import { SqliteSession, type SqliteSessionOptions } from '../src/probes/sqlite-session.ts';

const session = new SqliteSession(workerData as SqliteSessionOptions);
const port = parentPort!;
port.on('message', ({ id }: SqliteRequest) => port.postMessage({ id, outcome: session.run() } satisfies SqliteReply));
port.postMessage({ ready: true } satisfies SqliteReply);
