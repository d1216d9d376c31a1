import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSecretParam, redactUrl, secretScrubber, urlSecrets } from '../src/redact.ts';

test('redactUrl replaces the whole userinfo, user included, and keeps the rest byte for byte', () => {
  assert.equal(
    redactUrl('http://user:hunter2secret@127.0.0.1:8080/x?db=0#top'),
    'http://***@127.0.0.1:8080/x?db=0#top',
  );
  assert.equal(redactUrl('mysql://root:secret@db:3306/app'), 'mysql://***@db:3306/app');
  assert.equal(redactUrl('redis://:secret@cache:6379/0'), 'redis://***@cache:6379/0');
  // A key as user name with an empty password (Stripe), or a token as user name (GitHub).
  assert.equal(redactUrl('https://sk_live_abc:@api.example.com/'), 'https://***@api.example.com/');
  assert.equal(redactUrl('https://ghp_token123@github.com/x'), 'https://***@github.com/x');
  // The last `@` ends the userinfo, as WHATWG URL reads it.
  assert.equal(redactUrl('http://u:pa@ss@h/'), 'http://***@h/');
});

test('redactUrl leaves a URL without secrets as it is', () => {
  for (const url of [
    'http://127.0.0.1:9469/healthz',
    'mysql://db:3306/app',
    'http://h/?a=1&b=2',
    'http://h/p@th',
    'not a url',
  ]) {
    assert.equal(redactUrl(url), url);
  }
});

test('redactUrl hides the values of secret query parameters, whatever their case, and keeps their names', () => {
  assert.equal(redactUrl('http://h/x?token=abcsecret&db=0'), 'http://h/x?token=***&db=0');
  assert.equal(
    redactUrl('http://h/?Password=a&PWD=b&passwd=c&api_key=d&API-KEY=e&access_token=f&auth=g&secret=h&key=i'),
    'http://h/?Password=***&PWD=***&passwd=***&api_key=***&API-KEY=***&access_token=***&auth=***&secret=***&key=***',
  );
  assert.equal(
    redactUrl('https://s3/b/o?X-Amz-Signature=abc&client_secret=def&refresh_token=ghi'),
    'https://s3/b/o?X-Amz-Signature=***&client_secret=***&refresh_token=***',
  );
  // The fragment is not the query; a `?` inside it is left alone.
  assert.equal(redactUrl('http://h/?token=a#frag?token=b'), 'http://h/?token=***#frag?token=b');
  // Percent-encoded names are decoded before they are judged.
  assert.equal(redactUrl('http://h/?%74oken=a'), 'http://h/?%74oken=***');
});

test('isSecretParam judges names by their ending, lowercased and without - and _', () => {
  for (const name of [
    'password',
    'PASSWORD',
    'db_password',
    'pwd',
    'token',
    'x-auth-token',
    'apiKey',
    'api_key',
    'secret',
    'sig',
  ]) {
    assert.equal(isSecretParam(name), true, name);
  }
  for (const name of ['db', 'timeout', 'ssl', 'charset', 'user', 'database'])
    assert.equal(isSecretParam(name), false, name);
});

test('urlSecrets lists the password, secret values and the URL itself in raw and decoded forms, longest first', () => {
  const secrets = urlSecrets('http://user:p%40ss@h/x?token=a%2Bb&db=0');
  for (const s of ['p%40ss', 'p@ss', 'a%2Bb', 'a+b', 'http://user:p%40ss@h/x?token=a%2Bb&db=0'])
    assert.ok(secrets.includes(s), s);
  assert.ok(!secrets.includes('user'), 'a user name next to a password is not a secret');
  assert.ok(!secrets.includes('0'));
  assert.deepEqual(
    secrets,
    [...secrets].sort((a, b) => b.length - a.length),
  );
  // A short user name alone is not a secret on its own, but the URL is still only ever shown redacted.
  assert.deepEqual(urlSecrets('mysql://root@127.0.0.1:3306/test'), ['mysql://root@127.0.0.1:3306/test']);
  assert.deepEqual(urlSecrets('mysql://127.0.0.1:3306/test?db=0'), []);
  assert.ok(urlSecrets('https://ghp_token123@github.com/').includes('ghp_token123'), 'a long user name alone is');
});

test('secretScrubber replaces the URL by its redacted form and every other secret by ***', () => {
  const url = 'http://user:hunter2secret@127.0.0.1:1/x?token=abcsecret';
  const scrub = secretScrubber(url)!;
  assert.equal(scrub(`Failed to parse URL from ${url}`), 'Failed to parse URL from http://***@127.0.0.1:1/x?token=***');
  assert.equal(scrub('AUTH hunter2secret rejected; token abcsecret'), 'AUTH *** rejected; token ***');
  assert.equal(scrub('connect ECONNREFUSED 127.0.0.1:1'), 'connect ECONNREFUSED 127.0.0.1:1');
  // WHATWG URL's normalized form of a URL written with a raw `@` in the password.
  const odd = secretScrubber('http://u:pa@ss@h/')!;
  assert.equal(odd('GET http://u:pa%40ss@h/ failed'), 'GET http://***@h/ failed');
  assert.equal(secretScrubber('http://127.0.0.1:9469/healthz'), undefined, 'no secrets, no scrubber');
});
