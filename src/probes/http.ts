/**
 * http: GET the target URL with the global fetch (undici: one keep-alive connection pool per origin,
 * shared by every http target of the worker, so a prober owns no client of its own). The run's signal
 * aborts fetch's, so the deadline cancels the connect, the headers and the body read alike.
 */
import { settle } from './classify.ts';
import type { HttpTarget, Probe, ProbeOutcome, Prober } from './probe.ts';

/** httpProbe makes probers that GET a URL and check its status and, optionally, its body. */
export const httpProbe: Probe<'http'> = {
  kind: 'http',
  create(target: HttpTarget): Prober {
    const check: ResponseCheck = {
      url: target.url,
      headers: { ...target.headers },
      statusOk: statusPredicate(target.expectStatus),
      expected: target.expectStatus.length === 0 ? '2xx' : target.expectStatus.join(', '),
      // Compiled once per target; config has already checked that the source is a valid RegExp.
      bodyMatch: target.bodyMatch === undefined ? undefined : new RegExp(target.bodyMatch),
    };
    return {
      run: (signal) => {
        // fetch keeps the abort listener it adds to its signal until that signal is collected, and the lane
        // reuses `signal` across runs (Prober.run's contract: leave no listener). So fetch gets a signal of
        // its own, aborted by settle's cancel hook, whose listener settle removes when the run settles.
        const own = new AbortController();
        return settle(signal, target.timeoutMs, () => getOnce(check, own.signal), () => own.abort(signal.reason));
      },
      close: () => Promise.resolve(),
    };
  },
};

interface ResponseCheck {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly statusOk: (status: number) => boolean;
  readonly expected: string;
  readonly bodyMatch: RegExp | undefined;
}

async function getOnce(check: ResponseCheck, signal: AbortSignal): Promise<ProbeOutcome> {
  const res = await fetch(check.url, { method: 'GET', headers: check.headers, signal });
  if (!check.statusOk(res.status)) {
    // An unread body would hold its keep-alive connection until garbage collection: cancel it.
    await res.body?.cancel();
    return { ok: false, reason: 'status', message: `HTTP ${res.status}, expected ${check.expected}` };
  }
  // Always read the body to its end: it frees the connection for reuse and measures the transfer.
  // body_bytes counts the bytes after content decoding (what fetch hands over).
  const chunks: Uint8Array[] | undefined = check.bodyMatch === undefined ? undefined : [];
  let bodyBytes = 0;
  if (res.body !== null) {
    for await (const chunk of res.body) {
      bodyBytes += chunk.byteLength;
      chunks?.push(chunk);
    }
  }
  if (check.bodyMatch !== undefined && chunks !== undefined) {
    const text = Buffer.concat(chunks).toString('utf8');
    if (!check.bodyMatch.test(text)) {
      return { ok: false, reason: 'bad_reply', message: `body (${bodyBytes} bytes) does not match /${check.bodyMatch.source}/` };
    }
  }
  return { ok: true, app: { status_code: res.status, body_bytes: bodyBytes } };
}

function statusPredicate(expect: readonly number[]): (status: number) => boolean {
  if (expect.length === 0) return (status) => status >= 200 && status <= 299;
  const accepted = new Set(expect);
  return (status) => accepted.has(status);
}
