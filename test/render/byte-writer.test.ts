import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteWriter } from '../../src/render/byte-writer.ts';
import { formatValue } from '../../src/render/text.ts';

test('numbers are spelled as formatValue spells them: safe integers digit by digit, the rest by formatValue', () => {
  const values = [
    0,
    -0,
    1,
    9,
    10,
    11,
    99,
    100,
    101,
    1234567890,
    -1,
    -10,
    -12345,
    2 ** 31,
    2 ** 32 + 1,
    1e15,
    1e16 - 1,
    Number.MAX_SAFE_INTEGER,
    -Number.MAX_SAFE_INTEGER,
    2 ** 53,
    2 ** 60,
    1e21,
    -1e21,
    0.1 + 0.2,
    1e-7,
    1.5,
    -2.25,
    NaN,
    Infinity,
    -Infinity,
    1796677821.572,
  ];
  const writer = new ByteWriter(16);
  for (const value of values) {
    writer.reset();
    writer.number(value, formatValue);
    assert.equal(writer.toString(), formatValue(value), `value ${value}`);
  }
});

test('the buffer grows past its first size and keeps what was written; reset starts over', () => {
  const writer = new ByteWriter(16);
  const line = Buffer.from('probex_probe_up{target="ü"} ');
  for (let i = 0; i < 10_000; i++) {
    writer.bytes(line);
    writer.number(i, formatValue);
    writer.byte(10);
  }
  writer.text('# EOF ✓\n');
  const lines = writer.toString().split('\n');
  assert.equal(lines.length, 10_002);
  assert.equal(lines[0], 'probex_probe_up{target="ü"} 0');
  assert.equal(lines[9_999], 'probex_probe_up{target="ü"} 9999');
  assert.equal(lines[10_000], '# EOF ✓');
  assert.equal(writer.view().byteLength, Buffer.byteLength(writer.toString()));

  writer.reset();
  writer.text('small');
  assert.equal(writer.toString(), 'small');
  assert.equal(Buffer.from(writer.view()).toString(), 'small');
});

test('a line whose spelled value outgrows the buffer keeps its line feed', () => {
  const writer = new ByteWriter(16);
  const start = Buffer.from('m{a="b"}');
  const middle = Buffer.from(' ');
  const long = -1.2345678901234568e-300;
  writer.line(start, middle, long, formatValue);
  writer.line(start, middle, 42, formatValue);
  assert.equal(writer.toString(), `m{a="b"} ${formatValue(long)}\nm{a="b"} 42\n`);
  assert.ok(formatValue(long).length > 18, 'longer than the room a line reserves for its value');
});
