/**
 * src/log.ts: the JSON-lines logger and RateLimitedLog. RateLimitedLog writes through a real pino logger
 * into an in-memory stream, and time is the explicit nowMs argument, so every window edge is exact.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { RateLimitedLog } from '../src/log.ts';

const WINDOW_MS = 60_000;

interface Line {
  level: number;
  msg: string;
  target?: string;
  suppressed?: number;
  reason?: string;
}

/** capture returns a RateLimitedLog over a real pino logger and the lines it wrote, parsed. */
function capture(everyMs = WINDOW_MS): { limited: RateLimitedLog; lines: Line[] } {
  const lines: Line[] = [];
  const logger = pino(
    { level: 'info', base: null, timestamp: false },
    { write: (s: string) => void lines.push(JSON.parse(s) as Line) },
  );
  return { limited: new RateLimitedLog(logger, everyMs), lines };
}

const fail = (limited: RateLimitedLog, key: string, nowMs: number, reason = 'refused'): void =>
  limited.failure(key, reason, { target: key, reason }, `probe failed: ${reason}`, nowMs);
const ok = (limited: RateLimitedLog, key: string, nowMs: number): void =>
  limited.recovered(key, { target: key }, 'probe recovered', nowMs);

test('the first failure of a key is logged at once as a warning with its fields and nothing suppressed', () => {
  const { limited, lines } = capture();
  fail(limited, 'redis', 1_000);
  assert.deepEqual(lines, [
    { level: 40, target: 'redis', reason: 'refused', suppressed: 0, msg: 'probe failed: refused' },
  ]);
});

test('repeated failures inside the window are held back, and the next line after it reports how many', () => {
  const { limited, lines } = capture();
  fail(limited, 'redis', 0);
  for (let t = 50; t < WINDOW_MS; t += 50) fail(limited, 'redis', t); // 20 Hz for a whole window: 1199 runs
  assert.equal(lines.length, 1, 'nothing more inside the window');
  fail(limited, 'redis', WINDOW_MS - 1);
  assert.equal(lines.length, 1, 'one millisecond before the window ends is still inside it');
  fail(limited, 'redis', WINDOW_MS);
  assert.equal(lines.length, 2);
  assert.equal(lines[1]!.suppressed, 1200);
  assert.equal(lines[1]!.level, 40);
  fail(limited, 'redis', WINDOW_MS + 1);
  fail(limited, 'redis', 2 * WINDOW_MS);
  assert.deepEqual(
    lines.map((l) => l.suppressed),
    [0, 1200, 1],
    'the count restarts after each logged line',
  );
});

test('recovery is logged once, at info, with the failures held back since the last line', () => {
  const { limited, lines } = capture();
  fail(limited, 'mysql', 0);
  fail(limited, 'mysql', 100);
  fail(limited, 'mysql', 200);
  ok(limited, 'mysql', 300);
  ok(limited, 'mysql', 400);
  ok(limited, 'mysql', 2 * WINDOW_MS);
  assert.equal(lines.length, 2);
  assert.deepEqual(lines[1], { level: 30, target: 'mysql', suppressed: 2, msg: 'probe recovered' });
});

test('a key that never failed logs nothing on success', () => {
  const { limited, lines } = capture();
  ok(limited, 'fine', 0);
  ok(limited, 'fine', WINDOW_MS * 3);
  assert.deepEqual(lines, []);
});

test('keys are limited independently', () => {
  const { limited, lines } = capture();
  fail(limited, 'a', 0);
  fail(limited, 'b', 10);
  fail(limited, 'a', 20);
  fail(limited, 'b', 30);
  assert.deepEqual(
    lines.map((l) => l.target),
    ['a', 'b'],
  );
});

test('retain() forgets removed keys: a re-added key starts afresh, a kept key stays limited', () => {
  const { limited, lines } = capture();
  fail(limited, 'kept', 0);
  fail(limited, 'removed', 0);
  fail(limited, 'removed', 10); // held back: would be reported in removed's next line
  limited.retain(new Set(['kept']));
  ok(limited, 'removed', 20); // forgotten: no failure on record, so no recovery line either
  fail(limited, 'kept', 30);
  fail(limited, 'removed', 40);
  assert.deepEqual(
    lines.map((l) => [l.target, l.msg, l.suppressed]),
    [
      ['kept', 'probe failed: refused', 0],
      ['removed', 'probe failed: refused', 0],
      ['removed', 'probe failed: refused', 0], // logged at once inside the old window, count not carried over
    ],
  );
});

test('a flapping key writes at most burst + 1 lines per window, and the held-back failures reach the next line', () => {
  const { limited, lines } = capture();
  // Fails every other probe at 20 Hz for three windows: 1800 failures and 1800 recoveries.
  const perWindow: number[] = [];
  let failures = 0;
  for (let w = 0; w < 3; w++) {
    const before = lines.length;
    for (let t = w * WINDOW_MS; t < (w + 1) * WINDOW_MS; t += 50) {
      if ((t / 50) % 2 === 0) {
        fail(limited, 'flappy', t);
        failures++;
      } else {
        ok(limited, 'flappy', t);
      }
    }
    perWindow.push(lines.length - before);
  }
  // Two outages logged as they start and end (the burst of 4), then one line saying the key flaps.
  assert.deepEqual(perWindow, [5, 5, 5]);
  assert.deepEqual(
    lines.slice(0, 5).map((l) => [l.level, l.msg.split(':')[0]]),
    [
      [40, 'probe failed'],
      [30, 'probe recovered'],
      [40, 'probe failed'],
      [30, 'probe recovered'],
      [40, 'probe flapping'],
    ],
  );
  // Every failure is a line of its own or counted in a later line; only those after the last line are still held.
  const warned = lines.filter((l) => l.msg.startsWith('probe failed')).length;
  const accounted = warned + lines.reduce((n, l) => n + (l.suppressed ?? 0), 0);
  assert.ok(
    accounted <= failures && accounted >= failures - WINDOW_MS / 100,
    `${accounted} of ${failures} failures accounted for`,
  );
});

test("once its window has passed, a flapping key's next line tells the state it is in", () => {
  const { limited, lines } = capture();
  for (let t = 0; t < 1_000; t += 100) {
    fail(limited, 'k', t);
    ok(limited, 'k', t + 50);
  }
  assert.equal(lines.at(-1)!.msg.split(':')[0], 'probe flapping');
  ok(limited, 'k', WINDOW_MS - 1); // still inside the window: held
  assert.equal(lines.length, 5);
  ok(limited, 'k', WINDOW_MS);
  assert.deepEqual(
    lines.slice(5).map((l) => [l.level, l.msg, l.suppressed]),
    [[30, 'probe recovered', 8]],
  );
  fail(limited, 'k', WINDOW_MS + 10);
  assert.deepEqual(
    lines.slice(6).map((l) => [l.level, l.msg, l.suppressed]),
    [[40, 'probe failed: refused', 0]],
  );
});

test('a new outage right after a recovery is logged at once, and so is its recovery', () => {
  const { limited, lines } = capture();
  fail(limited, 'redis', 0);
  for (let t = 50; t < 10_000; t += 50) fail(limited, 'redis', t); // a 10 s outage at 20 Hz
  ok(limited, 'redis', 10_000);
  ok(limited, 'redis', 12_000);
  fail(limited, 'redis', 15_000); // a second 10 s outage, 5 s after the first ended
  for (let t = 15_050; t < 25_000; t += 50) fail(limited, 'redis', t);
  ok(limited, 'redis', 25_000);
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg, l.suppressed]),
    [
      [40, 'probe failed: refused', 0],
      [30, 'probe recovered', 199],
      [40, 'probe failed: refused', 0],
      [30, 'probe recovered', 199],
    ],
  );
});

test('a failure with a new reason is logged at once; going back to the old reason is a change too', () => {
  const { limited, lines } = capture();
  fail(limited, 'db', 0, 'refused');
  fail(limited, 'db', 100, 'refused');
  fail(limited, 'db', 200, 'timeout');
  fail(limited, 'db', 300, 'timeout');
  fail(limited, 'db', 400, 'refused');
  assert.deepEqual(
    lines.map((l) => [l.reason, l.suppressed]),
    [
      ['refused', 0],
      ['timeout', 1],
      ['refused', 1],
    ],
  );
});

test('a failure after a recovery is logged at once when the key wrote no line within the window', () => {
  const { limited, lines } = capture();
  fail(limited, 'redis', 0);
  ok(limited, 'redis', 100);
  fail(limited, 'redis', 100 + WINDOW_MS);
  assert.deepEqual(
    lines.map((l) => [l.level, l.suppressed]),
    [
      [40, 0],
      [30, 0],
      [40, 0],
    ],
  );
});
