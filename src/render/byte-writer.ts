/**
 * ByteWriter appends an exposition body's bytes to one buffer that it grows and reuses from render to
 * render. At 10,000 targets a text body is ~15 MB in ~250,000 lines: built as strings, each line is a
 * few short-lived strings and the whole a rope that is flattened and encoded once more, which on a
 * thread with a small young generation is mostly garbage collection (docs/benchmarks.md, "Scale on one
 * process"). Here a line is a copy of cached bytes and digits written in place: nothing per line is
 * allocated.
 */

/** SHRINK_BELOW: a buffer more than this many times larger than the last body it held is replaced by a smaller one. */
const SHRINK_BELOW = 4;
const MIN_BYTES = 64 * 1024;

export class ByteWriter {
  #buf: Buffer;
  #pos = 0;
  /** #previous is the length of the body before the current one (for shrinking after a large one). */
  #previous = 0;

  constructor(initialBytes = MIN_BYTES) {
    this.#buf = Buffer.allocUnsafe(Math.max(16, initialBytes));
  }

  /** reset starts a new body; the bytes of the previous one (and views of them) are overwritten from here on. */
  reset(): void {
    this.#previous = this.#pos;
    this.#pos = 0;
    if (this.#buf.byteLength > MIN_BYTES && this.#buf.byteLength > SHRINK_BELOW * this.#previous)
      this.#buf = Buffer.allocUnsafe(Math.max(MIN_BYTES, 2 * this.#previous));
  }

  /** view is the body written since reset: a view into the buffer, valid until the next reset. */
  view(): Uint8Array {
    return this.#buf.subarray(0, this.#pos);
  }

  /** toString decodes the body as UTF-8. */
  toString(): string {
    return this.#buf.toString('utf8', 0, this.#pos);
  }

  /** bytes appends a byte sequence (cached, pre-encoded parts of lines). */
  bytes(bytes: Uint8Array): void {
    this.#ensure(bytes.byteLength);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.byteLength;
  }

  /** byte appends one byte. */
  byte(value: number): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = value;
  }

  /** text appends a string as UTF-8. */
  text(value: string): void {
    this.#ensure(value.length * 3);
    this.#pos += this.#buf.write(value, this.#pos, 'utf8');
  }

  /**
   * line appends one sample line: `start` and `middle` (the name with its labels, cached bytes), the value
   * as number() writes it, and a line feed. One call per line: the bulk of a body is these.
   */
  line(start: Uint8Array, middle: Uint8Array, value: number, spell: (value: number) => string): void {
    this.#ensure(start.byteLength + middle.byteLength + 18); // 18: a sign, 16 digits and the line feed
    const buf = this.#buf;
    buf.set(start, this.#pos);
    buf.set(middle, this.#pos + start.byteLength);
    this.#pos += start.byteLength + middle.byteLength;
    this.number(value, spell); // a value it spells may grow the buffer: the line feed goes after, checked
    this.byte(NEWLINE);
  }

  /**
   * number appends a safe integer in decimal, digit by digit (counts, the bulk of a body), and any other
   * number as `spell` spells it.
   */
  number(value: number, spell: (value: number) => string): void {
    if (!Number.isSafeInteger(value)) {
      this.text(spell(value));
      return;
    }
    this.#ensure(17); // a sign and at most 16 digits
    const buf = this.#buf;
    if (value < 0) {
      buf[this.#pos++] = MINUS;
      value = -value;
    }
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    let at = this.#pos + digits;
    this.#pos = at;
    do {
      const next = Math.floor(value / 10);
      buf[--at] = ZERO + (value - next * 10);
      value = next;
    } while (value > 0);
  }

  #ensure(more: number): void {
    const needed = this.#pos + more;
    if (needed <= this.#buf.byteLength) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, 2 * this.#buf.byteLength));
    this.#buf.copy(grown, 0, 0, this.#pos);
    this.#buf = grown;
  }
}

const NEWLINE = 10;
const MINUS = 45;
const ZERO = 48;
