import assert from 'node:assert/strict';
import { hashSync } from '@node-rs/bcrypt';
import { test } from 'node:test';
import { BasicAuth, decodeBasic, isBasic, MAX_PENDING, type Verify } from '../../src/http/basic-auth.ts';

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Recording is a Verify that answers like bcrypt (the password of the hash) and records each call; block() holds them. */
class Recording {
  readonly calls: Array<[string, string]> = [];
  #held: Promise<void> = Promise.resolve();
  #release: () => void = () => {};

  constructor(readonly passwords: Record<string, string>) {}

  readonly verify: Verify = async (password, hash) => {
    this.calls.push([password, hash]);
    await this.#held;
    return this.passwords[hash] === password;
  };

  block(): void {
    this.#held = new Promise((resolve) => (this.#release = resolve));
  }

  release(): void {
    this.#release();
  }
}

const recording = (passwords: Record<string, string>): Recording => new Recording(passwords);

const USERS = { alice: '$2y$10$alicehash', bob: '$2y$12$bobhash' };
const PASSWORDS = { $2y$10$alicehash: 'alice-pw', $2y$12$bobhash: 'bob-pw' };

test('a right password is checked once, then answered from the cache', async () => {
  const r = recording(PASSWORDS);
  const auth = new BasicAuth(USERS, r.verify);
  const first = auth.check(basic('alice', 'alice-pw'));
  assert.ok(first instanceof Promise);
  assert.equal(await first, true);
  assert.equal(auth.check(basic('alice', 'alice-pw')), 'ok');
  assert.equal(auth.check(`  basic   ${basic('alice', 'alice-pw').slice(6)}  `), 'ok', 'scheme case and spaces');
  assert.equal(r.calls.length, 1);
  assert.equal(auth.stats.checks, 1);
});

test('a wrong password and an unknown user cost the same bcrypt: the same hash, highest cost, once each', async () => {
  const r = recording(PASSWORDS);
  const auth = new BasicAuth(USERS, r.verify);
  assert.equal(await auth.check(basic('bob', 'wrong')), false);
  assert.equal(await auth.check(basic('mallory', 'wrong')), false);
  assert.deepEqual(r.calls, [
    ['wrong', '$2y$12$bobhash'],
    ['wrong', '$2y$12$bobhash'],
  ]);
  // Both cached as wrong now: no more bcrypt.
  assert.equal(auth.check(basic('bob', 'wrong')), 'unauthorized');
  assert.equal(auth.check(basic('mallory', 'wrong')), 'unauthorized');
  assert.equal(r.calls.length, 2);
});

test("an unknown user with a real user's password does not get in", async () => {
  const r = recording(PASSWORDS);
  const auth = new BasicAuth(USERS, r.verify);
  assert.equal(await auth.check(basic('mallory', 'bob-pw')), false);
  assert.equal(auth.check(basic('mallory', 'bob-pw')), 'unauthorized', 'and that is cached as wrong');
});

test('the same new credential arriving again waits for the one check', async () => {
  const r = recording(PASSWORDS);
  r.block();
  const auth = new BasicAuth(USERS, r.verify);
  const a = auth.check(basic('alice', 'alice-pw'));
  const b = auth.check(basic('alice', 'alice-pw'));
  assert.ok(a instanceof Promise);
  assert.equal(a, b);
  r.release();
  assert.equal(await a, true);
  assert.equal(r.calls.length, 1);
});

test('at most MAX_PENDING distinct credentials wait; more are busy, and checks run one at a time', async () => {
  const r = recording(PASSWORDS);
  r.block();
  const auth = new BasicAuth(USERS, r.verify);
  const pending = Array.from({ length: MAX_PENDING }, (_, i) => auth.check(basic('alice', `guess-${i}`)));
  assert.ok(pending.every((p) => p instanceof Promise));
  assert.equal(auth.check(basic('alice', 'one-more')), 'busy');
  assert.equal(auth.stats.busy, 1);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(r.calls.length, 1, 'one bcrypt at a time');
  r.release();
  assert.deepEqual(await Promise.all(pending), Array(MAX_PENDING).fill(false));
  assert.equal(r.calls.length, MAX_PENDING);
});

test('malformed credentials are refused without bcrypt; passwords over 72 bytes never match', async () => {
  const r = recording({ ...PASSWORDS, $2y$10$long: 'x'.repeat(80) });
  const auth = new BasicAuth({ ...USERS, long: '$2y$10$long' }, r.verify);
  for (const header of [
    'Basic',
    'Basic !!!!',
    'Basic YWxpY2U=' /* no colon */,
    'Basic YWxpY2U6YWxpY2UtcHc' /* unpadded */,
  ])
    assert.equal(auth.check(header), 'unauthorized', header);
  assert.equal(r.calls.length, 0);
  assert.equal(await auth.check(basic('long', 'x'.repeat(80))), false);
  assert.equal(r.calls.length, 1, 'still one bcrypt, so it takes as long as any other wrong password');
});

test('with real bcrypt: a hash from @node-rs/bcrypt verifies off the main thread', async () => {
  const hash = hashSync('s3cret', 4);
  const auth = new BasicAuth({ prometheus: hash });
  assert.equal(await auth.check(basic('prometheus', 's3cret')), true);
  assert.equal(auth.check(basic('prometheus', 's3cret')), 'ok');
  assert.equal(await auth.check(basic('prometheus', 'nope')), false);
});

test('isBasic and decodeBasic', () => {
  assert.equal(isBasic('Basic abc'), true);
  assert.equal(isBasic('basic abc'), true);
  assert.equal(isBasic('Bearer abc'), false);
  assert.equal(isBasic('Basicabc'), false);
  assert.equal(isBasic(''), false);
  assert.deepEqual(decodeBasic(Buffer.from('a:b:c').toString('base64')), { user: 'a', password: 'b:c' });
  assert.deepEqual(decodeBasic(Buffer.from('ünï:cödé').toString('base64')), { user: 'ünï', password: 'cödé' });
  assert.equal(decodeBasic('a b='), undefined);
});
