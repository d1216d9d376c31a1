/**
 * Number and date formatting as java.util.Formatter and java.util.Date print them, so the HdrHistogram
 * text formats probex writes (`.hgrm`, `.hlog`) are byte-for-byte what HdrHistogram's Java reference
 * implementation writes for the same histogram. Pure: no I/O.
 *
 * Java's `%.Nf` does not round the binary value the way C's printf and JS's toFixed do: it takes the
 * shortest decimal digits that identify the double (Double.toString's digits) and rounds those half-up.
 * So `String.format("%.1f", 0.15)` is `0.2` where `(0.15).toFixed(1)` is `0.1`. JS's toExponential()
 * without an argument gives the same shortest digits, and formatFixed rounds them the Java way.
 */

/** formatFixed formats x as Java's `%{width}.{precision}f` with Locale.US: half-up on the shortest digits. */
export function formatFixed(x: number, precision: number, width = 0): string {
  return padStart(fixed(x, precision), width);
}

/** formatInt formats an integer as Java's `%{width}d`. */
export function formatInt(n: number, width = 0): string {
  return padStart(String(n), width);
}

function fixed(x: number, precision: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  const [mantissa, exponent] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mantissa.replace('.', '');
  // The value is 0.<digits> × 10^point; keep `point + precision` digits of it.
  const point = Number(exponent) + 1;
  const keep = point + precision;
  let scaled: bigint; // round(|x| × 10^precision), half-up on the decimal digits
  if (keep < 0) {
    scaled = 0n;
  } else if (keep >= digits.length) {
    scaled = BigInt(digits + '0'.repeat(keep - digits.length));
  } else {
    scaled = BigInt(digits.slice(0, keep) || '0') + (digits.charCodeAt(keep) >= 0x35 /* '5' */ ? 1n : 0n);
  }
  const text = scaled.toString().padStart(precision + 1, '0');
  if (precision === 0) return sign + text;
  return `${sign}${text.slice(0, -precision)}.${text.slice(-precision)}`;
}

function padStart(s: string, width: number): string {
  return s.length >= width ? s : ' '.repeat(width - s.length) + s;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** javaDateUtc is `new java.util.Date(ms).toString()` in the UTC zone: `Tue Nov 14 22:13:20 UTC 2023`. */
export function javaDateUtc(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return (
    `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${two(d.getUTCDate())} ` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} UTC ${d.getUTCFullYear()}`
  );
}
