import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import {
  classifyError,
  describeError,
  failureOutcome,
  MAX_MESSAGE_CHARS,
  outcomeFromError,
  publicOutcome,
  scrubberFor,
  settle,
  timeoutOutcome,
} from '../../src/probes/classify.ts';
import type { PostgresTarget } from '../../src/probes/postgres.ts';
import type { ProbeFailureReason } from '../../src/probes/probe.ts';
import type { TcpTarget } from '../../src/probes/tcp.ts';

const TCP_TARGET: TcpTarget = {
  name: 'tcp',
  kind: 'tcp',
  host: '127.0.0.1',
  port: 1,
  intervalMs: 1000,
  timeoutMs: 1000,
  concurrency: 1,
  labels: {},
  buckets: [1],
};

function sysError(code: string, message = `connect ${code} 127.0.0.1:1`): Error {
  return Object.assign(new Error(message), { code });
}
function named(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

const cases: Array<[string, unknown, ProbeFailureReason]> = [
  ['ECONNREFUSED is refused', sysError('ECONNREFUSED'), 'refused'],
  ['ENOTFOUND is dns', sysError('ENOTFOUND', 'getaddrinfo ENOTFOUND nope.invalid'), 'dns'],
  ['EAI_AGAIN is dns', sysError('EAI_AGAIN', 'getaddrinfo EAI_AGAIN db'), 'dns'],
  ['ECONNRESET is reset', sysError('ECONNRESET', 'read ECONNRESET'), 'reset'],
  ['EPIPE is reset', sysError('EPIPE', 'write EPIPE'), 'reset'],
  [
    'mysql2 PROTOCOL_CONNECTION_LOST is reset',
    Object.assign(new Error('Connection lost: The server closed the connection.'), {
      code: 'PROTOCOL_CONNECTION_LOST',
      fatal: true,
    }),
    'reset',
  ],
  [
    'node-redis SocketClosedUnexpectedlyError is reset',
    named('SocketClosedUnexpectedlyError', 'Socket closed unexpectedly'),
    'reset',
  ],
  ['node-redis ClientClosedError is reset', named('ClientClosedError', 'The client is closed'), 'reset'],
  // node-redis does not set `name` on its errors; the class name is what tells them apart.
  [
    'an unnamed SocketClosedUnexpectedlyError instance is reset',
    new (class SocketClosedUnexpectedlyError extends Error {})('Socket closed unexpectedly'),
    'reset',
  ],
  [
    'an unnamed ConnectionTimeoutError instance is timeout',
    new (class ConnectionTimeoutError extends Error {})('Connection timeout'),
    'timeout',
  ],
  [
    'mysql2 ER_ACCESS_DENIED_ERROR is auth',
    Object.assign(new Error("Access denied for user 'root'@'127.0.0.1' (using password: YES)"), {
      code: 'ER_ACCESS_DENIED_ERROR',
      errno: 1045,
    }),
    'auth',
  ],
  [
    'mysql2 ER_HOST_NOT_PRIVILEGED (1130) is auth',
    Object.assign(new Error("Host '10.1.2.3' is not allowed to connect to this MariaDB server"), {
      code: 'ER_HOST_NOT_PRIVILEGED',
      errno: 1130,
    }),
    'auth',
  ],
  [
    'mysql2 ER_HOST_IS_BLOCKED (1129) is auth',
    Object.assign(new Error("Host '10.1.2.3' is blocked because of many connection errors"), {
      code: 'ER_HOST_IS_BLOCKED',
      errno: 1129,
    }),
    'auth',
  ],
  [
    'redis 6+ ERR AUTH without a configured password is auth',
    named(
      'SimpleError',
      'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
    ),
    'auth',
  ],
  [
    'redis 5 ERR Client sent AUTH is auth',
    named('SimpleError', 'ERR Client sent AUTH, but no password is set'),
    'auth',
  ],
  [
    'another redis ERR reply is other',
    named('SimpleError', "ERR unknown command 'AUTHX', with args beginning with: "),
    'other',
  ],
  [
    'redis WRONGPASS reply is auth',
    named('SimpleError', 'WRONGPASS invalid username-password pair or user is disabled.'),
    'auth',
  ],
  ['redis NOAUTH reply is auth', named('SimpleError', 'NOAUTH Authentication required.'), 'auth'],
  ['a TLS certificate code is tls', sysError('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), 'tls'],
  [
    'an ERR_TLS_ code is tls',
    sysError('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"),
    'tls',
  ],
  ['an ERR_SSL_ code is tls', sysError('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number'), 'tls'],
  ['AbortError is timeout', named('AbortError', 'This operation was aborted'), 'timeout'],
  ['TimeoutError is timeout', named('TimeoutError', 'The operation was aborted due to timeout'), 'timeout'],
  ['ETIMEDOUT is timeout', sysError('ETIMEDOUT', 'connect ETIMEDOUT'), 'timeout'],
  [
    'mysql2 PROTOCOL_SEQUENCE_TIMEOUT is timeout',
    sysError('PROTOCOL_SEQUENCE_TIMEOUT', 'Query inactivity timeout'),
    'timeout',
  ],
  ['EACCES is io', sysError('EACCES', "EACCES: permission denied, open '/x'"), 'io'],
  ['ENOSPC is io', sysError('ENOSPC', 'ENOSPC: no space left on device'), 'io'],
  ['ENOENT is io', sysError('ENOENT', "ENOENT: no such file or directory, open '/x'"), 'io'],
  ['EROFS is io', sysError('EROFS', 'EROFS: read-only file system'), 'io'],
  ['ENOTDIR is io', sysError('ENOTDIR', "ENOTDIR: not a directory, mkdir '/f/x'"), 'io'],
  [
    'an undici HTTP parser error is bad_reply',
    sysError('HPE_INVALID_CONSTANT', 'Response does not match the HTTP/1.1 protocol (Expected HTTP/)'),
    'bad_reply',
  ],
  [
    "Node 24's undici HTTP parser error, whose code is undefined, is bad_reply",
    Object.assign(
      named('HTTPParserError', 'Response does not match the HTTP/1.1 protocol (Expected HTTP/, RTSP/ or ICE/)'),
      {
        code: undefined,
      },
    ),
    'bad_reply',
  ],
  ['an unknown code is other', sysError('ER_PARSE_ERROR', 'You have an error in your SQL syntax'), 'other'],
  ['a plain Error is other', new Error('boom'), 'other'],
  ['a string is other', 'boom', 'other'],
  ['undefined is other', undefined, 'other'],
  ['null is other', null, 'other'],
];

for (const [name, err, reason] of cases) {
  test(`classifyError: ${name}`, () => {
    assert.equal(classifyError(err), reason);
  });
}

test('classifyError follows the cause chain of a fetch failure', () => {
  const err = new TypeError('fetch failed', { cause: sysError('ECONNREFUSED') });
  assert.equal(classifyError(err), 'refused');
});

test('classifyError looks inside an AggregateError from a multi-address connect', () => {
  const err = new AggregateError(
    [sysError('ECONNREFUSED', 'connect ECONNREFUSED ::1:1'), sysError('ECONNREFUSED')],
    '',
  );
  assert.equal(classifyError(err), 'refused');
});

test('classifyError stops on a cause cycle', () => {
  const a: Error & { cause?: unknown } = new Error('a');
  const b = new Error('b', { cause: a });
  a.cause = b;
  assert.equal(classifyError(a), 'other');
});

test('failureOutcome carries the reason and a one-line message', () => {
  const outcome = failureOutcome('refused', new TypeError('fetch failed', { cause: sysError('ECONNREFUSED') }));
  assert.deepEqual(outcome, {
    ok: false,
    reason: 'refused',
    message: 'fetch failed: connect ECONNREFUSED 127.0.0.1:1',
  });
});

test('outcomeFromError classifies and describes in one step', () => {
  assert.deepEqual(outcomeFromError(sysError('ER_ACCESS_DENIED_ERROR', 'Access denied')), {
    ok: false,
    reason: 'auth',
    message: 'ER_ACCESS_DENIED_ERROR Access denied',
  });
});

test('describeError joins lines; publicOutcome cuts a long message to MAX_MESSAGE_CHARS', () => {
  const text = describeError(new Error(`line one\nline two ${'x'.repeat(1000)}`));
  assert.ok(text.startsWith('line one line two'));
  assert.ok(!text.includes('\n'));
  const outcome = publicOutcome({ ok: false, reason: 'other', message: text }, undefined);
  assert.equal(outcome.ok ? '' : outcome.message.length, MAX_MESSAGE_CHARS);
  assert.ok(!outcome.ok && outcome.message.endsWith('…'));
  const multiline = publicOutcome({ ok: false, reason: 'other', message: 'a\n b\tc' }, undefined);
  assert.deepEqual(multiline, { ok: false, reason: 'other', message: 'a b c' });
  const success = { ok: true as const, app: { rows: 1 } };
  assert.equal(
    publicOutcome(success, () => 'scrubbed'),
    success,
  );
});

test('publicOutcome scrubs before it cuts: a secret the cut would halve is never shown in part', () => {
  // A role name that is a token, quoted the way PostgreSQL and MariaDB quote it, where the cut falls.
  const token = `glpat-${'Z9'.repeat(30)}`;
  const target: PostgresTarget = {
    name: 'pg',
    kind: 'postgres',
    url: `postgres://${token}@db:5432/app`,
    query: 'SELECT 1',
    intervalMs: 1000,
    timeoutMs: 1000,
    concurrency: 1,
    labels: {},
    buckets: [1],
  };
  const scrub = scrubberFor(target);
  assert.ok(scrub !== undefined);
  for (const pad of [0, 180, 200, 220, 239]) {
    const message = `${'.'.repeat(pad)} role "${token}" does not exist ${'.'.repeat(300)}`;
    const outcome = publicOutcome({ ok: false, reason: 'auth', message }, scrub);
    assert.ok(!outcome.ok);
    assert.ok(outcome.message.length <= MAX_MESSAGE_CHARS, `pad ${pad}`);
    assert.ok(!outcome.message.includes('glpat-Z9'), `pad ${pad}: ${outcome.message}`);
  }
  assert.equal(scrubberFor({ ...TCP_TARGET }), undefined, 'a target without a URL has nothing to scrub');
});

test('settle returns the outcome of work that finishes in time', async () => {
  const outcome = await settle(new AbortController().signal, 100, async () => ({ ok: true }));
  assert.deepEqual(outcome, { ok: true });
});

test('settle converts a thrown error into a classified failure', async () => {
  const outcome = await settle(new AbortController().signal, 100, async () => {
    throw sysError('ECONNRESET', 'read ECONNRESET');
  });
  assert.deepEqual(outcome, { ok: false, reason: 'reset', message: 'read ECONNRESET' });
});

test('settle converts a synchronous throw into a failure', async () => {
  const outcome = await settle(new AbortController().signal, 100, () => {
    throw new Error('sync');
  });
  assert.equal(outcome.ok, false);
});

test('settle times nothing: on abort it runs cancel once, and the work it ended settles as a timeout', async () => {
  const ac = new AbortController();
  let cancels = 0;
  let settled = false;
  let end: (err: Error) => void = () => undefined;
  const pending = settle(
    ac.signal,
    50,
    () => new Promise<never>((_, reject) => (end = reject)),
    () => {
      cancels++;
      end(new Error('socket destroyed'));
    },
  );
  void pending.then(() => (settled = true));
  await new Promise((resolve) => setTimeout(resolve, 80)); // past timeoutMs, no abort: still waiting
  assert.equal(settled, false);
  ac.abort();
  assert.deepEqual(await pending, timeoutOutcome(50));
  assert.equal(cancels, 1);
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
});

test('settle removes its cancel listener when the work ends in time', async () => {
  const ac = new AbortController();
  await settle(
    ac.signal,
    50,
    async () => ({ ok: true }),
    () => assert.fail('cancel after the run ended'),
  );
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  ac.abort();
});

test('settle does not start the work when the signal has already aborted', async () => {
  let started = false;
  const outcome = await settle(AbortSignal.abort(), 10, async () => {
    started = true;
    return { ok: true };
  });
  assert.equal(outcome.ok, false);
  assert.equal(started, false);
});

test('settle reports timeout when the work fails because of the abort', async () => {
  const ac = new AbortController();
  const outcome = settle(
    ac.signal,
    10,
    () =>
      new Promise((_, reject) => {
        ac.signal.addEventListener('abort', () => reject(sysError('ECONNRESET')));
      }),
  );
  ac.abort();
  assert.deepEqual(await outcome, timeoutOutcome(10));
});

const databaseCases: Array<[string, unknown, ProbeFailureReason]> = [
  ['pg 28P01 (invalid_password) is auth', sysError('28P01', 'password authentication failed for user "app"'), 'auth'],
  [
    'pg 28000 (invalid_authorization_specification) is auth',
    sysError('28000', 'no pg_hba.conf entry for host'),
    'auth',
  ],
  [
    'pg 3D000 (invalid_catalog_name: no such database) is auth',
    sysError('3D000', 'database "app" does not exist'),
    'auth',
  ],
  [
    'pg 57P01 (admin_shutdown) is reset',
    sysError('57P01', 'terminating connection due to administrator command'),
    'reset',
  ],
  ['pg 57P03 (cannot_connect_now) is refused', sysError('57P03', 'the database system is starting up'), 'refused'],
  [
    'pg 57014 (query_canceled) is timeout',
    sysError('57014', 'canceling statement due to statement timeout'),
    'timeout',
  ],
  ['pg 42P01 (undefined_table) is other', sysError('42P01', 'relation "nope" does not exist'), 'other'],
  ['pg "Connection terminated unexpectedly" is reset', new Error('Connection terminated unexpectedly'), 'reset'],
  [
    'pg "The server does not support SSL connections" is tls',
    new Error('The server does not support SSL connections'),
    'tls',
  ],
  ['pg-protocol "received invalid response" is bad_reply', new Error('received invalid response: 78'), 'bad_reply'],
  ['SQLITE_BUSY is busy', sysError('SQLITE_BUSY', 'database is locked'), 'busy'],
  ['an extended SQLITE_BUSY_SNAPSHOT is busy', sysError('SQLITE_BUSY_SNAPSHOT', 'database is locked'), 'busy'],
  ['SQLITE_LOCKED is busy', sysError('SQLITE_LOCKED', 'database table is locked'), 'busy'],
  ['SQLITE_CANTOPEN is io', sysError('SQLITE_CANTOPEN', 'unable to open database file'), 'io'],
  ['an extended SQLITE_IOERR_READ is io', sysError('SQLITE_IOERR_READ', 'disk I/O error'), 'io'],
  ['SQLITE_NOTADB is bad_reply', sysError('SQLITE_NOTADB', 'file is not a database'), 'bad_reply'],
  ['SQLITE_CORRUPT is bad_reply', sysError('SQLITE_CORRUPT', 'database disk image is malformed'), 'bad_reply'],
  ['SQLITE_ERROR (an SQL error) is other', sysError('SQLITE_ERROR', 'no such table: nope'), 'other'],
];

for (const [name, err, reason] of databaseCases) {
  test(`classifyError: ${name}`, () => assert.equal(classifyError(err), reason));
}
