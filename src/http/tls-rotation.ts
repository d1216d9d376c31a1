/**
 * Certificate rotation: every TLS_POLL_MS the main thread reads the certificate, key and client CA files
 * again (off the event loop, capped, with a deadline: config/read-file.ts) and, when their bytes changed, checks
 * the new material (tls-material.ts) and hands it to the listener, which serves it to new connections.
 * exporter-toolkit re-reads the files on every handshake; this reads them on a clock instead, so a
 * handshake never waits on the filesystem, and a renewed certificate is served within TLS_POLL_MS plus
 * a read.
 *
 * Reading rather than watching: a Kubernetes Secret volume swaps a symlink (inotify on the file sees
 * nothing), and a stat can miss a rewrite within the same timestamp. A few small files every two
 * seconds cost a few reads on libuv's pool and a SHA-256 of some KiB.
 *
 * A pair that fails its check (the key is not the certificate's, a file half-written, unreadable) keeps
 * the old one in service, is logged once per distinct content and counted in
 * probex_tls_certificate_reload_failures_total; the next change is tried again.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../log.ts';
import { readCappedFile } from '../config/read-file.ts';
import { loadTlsMaterial, MAX_PEM_BYTES, watchedFiles, type TlsMaterial } from './tls-material.ts';
import type { TlsSettings } from '../config/web-settings.ts';

/** TLS_POLL_MS is how often the certificate files are read again. */
const TLS_POLL_MS = 2_000;
/** TLS_READ_TIMEOUT_MS bounds one read of the files (a hung network mount). */
const TLS_READ_TIMEOUT_MS = 5_000;

/** TlsRotationStats are the rotation self-metrics. */
interface TlsRotationStats {
  /** reloads counts new material served since start. */
  reloads: number;
  /** failures counts changed files whose new material was refused (the old one stayed). */
  failures: number;
  /** notAfterSeconds is when the served certificate expires (Unix seconds). */
  notAfterSeconds: number;
}

/** TlsRotation watches the files of the running TLS settings. */
export interface TlsRotation {
  readonly stats: TlsRotationStats;
  /** replace makes `settings` and `material` (from a reload) the running ones, and serves the material. */
  replace(settings: TlsSettings, material: TlsMaterial): void;
  stop(): void;
}

/** watchTls starts watching `settings`' files; `serve` is the listener's rotate. */
export function watchTls(
  settings: TlsSettings,
  material: TlsMaterial,
  serve: (material: TlsMaterial) => void,
  log: Logger,
  intervalMs = TLS_POLL_MS,
): TlsRotation {
  const stats: TlsRotationStats = { reloads: 0, failures: 0, notAfterSeconds: material.notAfterSeconds };
  let running = settings;
  let served = material.digest;
  /** seen is the digest of the files' bytes last looked at, so unchanged files are not checked again. */
  let seen: string | undefined;
  let busy = false;

  const use = (next: TlsMaterial, why: string): void => {
    serve(next);
    served = next.digest;
    stats.reloads++;
    stats.notAfterSeconds = next.notAfterSeconds;
    log.info({ notAfter: new Date(next.notAfterSeconds * 1000).toISOString(), why }, 'TLS certificate reloaded');
  };

  const poll = async (): Promise<void> => {
    const files = watchedFiles(running);
    if (files.length === 0) return;
    const bytes = await Promise.allSettled(files.map((f) => readCappedFile(f, MAX_PEM_BYTES, TLS_READ_TIMEOUT_MS)));
    const digest = createHash('sha256');
    for (const b of bytes)
      digest.update(b.status === 'fulfilled' ? b.value.bytes : `\0${String(b.reason)}`).update('\0');
    const now = digest.digest('hex');
    if (now === seen) return;
    seen = now;
    let next: TlsMaterial;
    try {
      next = await loadTlsMaterial(running, TLS_READ_TIMEOUT_MS);
    } catch (err) {
      stats.failures++;
      log.error({ reason: (err as Error).message, files }, 'new TLS material refused; the old one is served');
      return;
    }
    if (next.digest === served) return;
    try {
      use(next, 'the certificate files changed');
    } catch (err) {
      stats.failures++;
      log.error({ err }, 'the listener could not take the new TLS material; the old one is served');
    }
  };

  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    poll()
      .catch((err: unknown) => log.error({ err }, 'reading the TLS files failed'))
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  timer.unref();

  return {
    stats,
    replace(settings, next) {
      running = settings;
      seen = undefined;
      if (next.digest !== served) use(next, 'reload');
    },
    stop: () => clearInterval(timer),
  };
}
