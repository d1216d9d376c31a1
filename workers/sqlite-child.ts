/**
 * The child process of one sqlite prober (src/probes/sqlite.ts): its first message says what to open,
 * then it answers each request with one run, or one check, of the target's query. A thin adapter: the work
 * is src/probes/sqlite-session.ts, the guard against outliving probex src/probes/sqlite-watchdog.ts.
 */
import type { SqliteMessage, SqliteReply } from '../src/probes/sqlite.ts';
import { checkQuery, SqliteSession, type SqliteSessionOptions } from '../src/probes/sqlite-session.ts';
import { watchParent } from '../src/probes/sqlite-watchdog.ts';

watchParent();
let options: SqliteSessionOptions | undefined;
let session: SqliteSession | undefined;
const reply = (message: SqliteReply): void => void process.send?.(message);
process.on('message', (message: SqliteMessage) => {
  if ('options' in message) {
    options = message.options;
    session = new SqliteSession(options);
    return reply({ ready: true });
  }
  if (message.op === 'run') return reply({ id: message.id, outcome: session!.run() });
  const problem = checkQuery(options!.path, options!.query);
  reply({
    id: message.id,
    outcome: problem === undefined ? { ok: true } : { ok: false, reason: 'other', message: problem },
  });
});
// An idle child ends with its channel; a busy one is ended by the watchdog.
process.on('disconnect', () => process.exit(0));
