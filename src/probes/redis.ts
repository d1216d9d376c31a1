/**
 * redis: PING over one node-redis client per target, kept open between runs and shared by concurrent runs
 * (Redis answers in order, so they pipeline on the one connection).
 *
 * Reconnection is ours, not node-redis's: the client runs with `reconnectStrategy: false` and
 * `disableOfflineQueue`, so a broken connection closes the client, flushes its queue with an error, and
 * rejects new commands at once. The next run sees the client is gone and creates a fresh one. This keeps
 * every connect attempt inside some run's deadline, never in the background between runs: no retry loop
 * that outlives the target, no queue of PINGs waiting for a server that is gone, no error events while
 * nobody is probing, and a dead server costs one connect attempt per run, which is what the probe reports.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { secretScrubber } from '../redact.ts';
import { scrubbed, settle } from './classify.ts';
import type { Probe, ProbeOutcome, Prober, RedisTarget } from './probe.ts';

/** REDIS_CLIENT_NAME_PREFIX starts the CLIENT SETNAME of every probe connection (`probex:<target>`). */
export const REDIS_CLIENT_NAME_PREFIX = 'probex:';

/** SETDEL_KEY_PREFIX starts the throwaway key of a `setdel` run (`probex-metric-<uuid>`, as Directus's `directus-metric-<uuid>`). */
export const SETDEL_KEY_PREFIX = 'probex-metric-';

/** SETDEL_EXPIRY_SECONDS is the key's expiry, so a run cut off between SET and DEL leaves nothing for long. */
export const SETDEL_EXPIRY_SECONDS = 5;

/** redisProbe makes probers that PING a Redis server and expect PONG (or, with `command: setdel`, SET and DEL a key). */
export const redisProbe: Probe<'redis'> = {
  kind: 'redis',
  create(target: RedisTarget): Prober {
    return new RedisProber(target);
  },
};

/** Connection is one client and its handshake; `gone` is set once it must not be used again. */
interface Connection {
  readonly client: RedisClient;
  readonly ready: Promise<unknown>;
  gone: boolean;
  /** deadlineMs is set when a run's deadline retired the connection (see #ping). */
  deadlineMs?: number;
}

class RedisProber implements Prober {
  readonly #target: RedisTarget;
  readonly #scrub: ((text: string) => string) | undefined;
  #conn: Connection | undefined;
  #closed = false;

  constructor(target: RedisTarget) {
    this.#target = target;
    this.#scrub = secretScrubber(target.url);
  }

  run(signal: AbortSignal): Promise<ProbeOutcome> {
    let conn: Connection | undefined;
    // A deadline destroys the connection this run used: a PING that got no answer in time leaves the
    // connection in an unknown state (a hung server would otherwise collect one PING per run forever).
    const onDeadline = (): void => {
      if (conn === undefined) return;
      conn.deadlineMs ??= this.#target.timeoutMs;
      this.#drop(conn);
    };
    const outcome = settle(
      signal,
      this.#target.timeoutMs,
      () => {
        if (this.#closed)
          return Promise.resolve<ProbeOutcome>({ ok: false, reason: 'other', message: 'prober is closed' });
        conn = this.#connection();
        return this.#ping(conn, signal);
      },
      onDeadline,
    );
    // node-redis words its own errors without the password (`AUTH <password>`); this holds for every error.
    return scrubbed(outcome, this.#scrub);
  }

  close(): Promise<void> {
    this.#closed = true;
    if (this.#conn !== undefined) this.#drop(this.#conn);
    return Promise.resolve();
  }

  async #ping(conn: Connection, signal: AbortSignal): Promise<ProbeOutcome> {
    try {
      await conn.ready;
      if (this.#target.command === 'setdel') return await setDel(conn.client);
      const reply = await conn.client.ping();
      if (reply !== 'PONG') {
        return {
          ok: false,
          reason: 'bad_reply',
          message: `PING answered ${JSON.stringify(reply).slice(0, 80)}, expected PONG`,
        };
      }
      return { ok: true };
    } catch (err) {
      // Concurrent runs on a connection another run's deadline destroyed were queued behind that
      // unanswered PING (Redis answers in order): they timed out too, they did not see a reset.
      if (conn.deadlineMs !== undefined && !signal.aborted) {
        return {
          ok: false,
          reason: 'timeout',
          message: `connection dropped: a concurrent PING got no answer within ${conn.deadlineMs} ms`,
        };
      }
      // A server error reply (LOADING, ...) leaves the connection usable; anything else closed it.
      if (!conn.client.isReady) this.#drop(conn);
      throw err;
    }
  }

  /** #connection returns the live connection, creating a new one when there is none or it broke. */
  #connection(): Connection {
    const current = this.#conn;
    // isOpen turns false when the socket breaks (reconnectStrategy false terminates the client).
    if (current !== undefined && !current.gone && current.client.isOpen) return current;
    if (current !== undefined) this.#drop(current);
    const client = newClient(this.#target);
    // Without an 'error' listener, node-redis's error event would crash the worker thread.
    client.on('error', reportedElsewhere);
    const conn: Connection = { client, ready: client.connect(), gone: false };
    // The handshake can fail after every run waiting on it has timed out: handle the rejection here
    // too, and retire the connection so the next run starts a new one.
    conn.ready.then(undefined, () => this.#drop(conn));
    this.#conn = conn;
    return conn;
  }

  /** #drop retires a connection for good and destroys its client; it is idempotent. */
  #drop(conn: Connection): void {
    if (conn.gone) return;
    conn.gone = true;
    if (this.#conn === conn) this.#conn = undefined;
    conn.client.destroy();
  }
}

type RedisClient = ReturnType<typeof newClient>;

function newClient({ url, name, timeoutMs }: RedisTarget) {
  return createClient({
    url,
    name: `${REDIS_CLIENT_NAME_PREFIX}${name}`,
    RESP: 2, // AUTH + CLIENT SETNAME instead of HELLO 3: works with every server version and fork
    disableOfflineQueue: true,
    socket: { reconnectStrategy: false, connectTimeout: timeoutMs },
    // The run's deadline bounds every PING (and drops the connection when it fires); node-redis's own
    // 5 s default command timeout would only add an AbortSignal.timeout, a timer and a listener per PING.
    commandOptions: { timeout: 0 },
  });
}

/**
 * reportedElsewhere is the client's 'error' listener. Every error it sees also reaches a run: the waiting
 * connect or command rejects with it and the run reports it, and a connection that broke while idle is
 * found closed (isOpen false) by the next run, which replaces it. So the event itself needs no handling.
 */
function reportedElsewhere(): void {}

/**
 * setDel is Directus's Redis check: SET a key of its own (with an expiry) and DEL it, two round trips.
 * Unlike PING it fails on a server that refuses writes (a read-only replica, OOM with noeviction).
 */
async function setDel(client: RedisClient): Promise<ProbeOutcome> {
  const key = `${SETDEL_KEY_PREFIX}${randomUUID()}`;
  const set = await client.set(key, '1', { EX: SETDEL_EXPIRY_SECONDS });
  if (set !== 'OK')
    return { ok: false, reason: 'bad_reply', message: `SET answered ${JSON.stringify(set).slice(0, 80)}, expected OK` };
  const deleted = await client.del(key);
  if (deleted !== 1)
    return {
      ok: false,
      reason: 'bad_reply',
      message: `DEL answered ${JSON.stringify(deleted).slice(0, 80)}, expected 1`,
    };
  return { ok: true };
}
