/**
 * Loads uWebSockets.js: the newest build that loads on this Node and libc. package.json installs two
 * packages of it, because no single one covers every Node and glibc probex supports (UWS_BUILDS says
 * which covers what; docs/decisions.md where they come from and how to swap in uNetworking's own).
 *
 * Each package is loaded through its own entry point, as `require('uWebSockets.js')` would, so probex
 * does not depend on where a package keeps its binaries. Some entries print to the console while they
 * load, and one falls back to a slow pure-JS shim when its binary does not load; the loader keeps that
 * output off stdout (the JSON log), refuses a shim (probex's whole point is the native path) and moves on
 * to the next build, keeping each build's reason for the error when none loads.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as UWS from 'uWebSockets.js';
import { NativeServerError } from '../errors.ts';

/** UwsBuild is a uWebSockets.js package probex can serve from: its module specifier and where it loads. */
export interface UwsBuild {
  readonly specifier: string;
  readonly runsOn: string;
}

/** UWS_BUILDS are package.json's uWebSockets.js dependencies, newest first, and where each one loads. */
export const UWS_BUILDS: readonly UwsBuild[] = [
  {
    specifier: 'uWebSockets.js',
    runsOn: 'Node 20, 22 or 24 with glibc >= 2.38 (Debian 13, Ubuntu 24.04, RHEL 10 or newer)',
  },
  { specifier: 'uWebSockets.js-legacy', runsOn: 'Node 20 with glibc >= 2.27' },
];

/** NativeUws is the uWebSockets.js module serving, and which package it is. */
export interface NativeUws {
  readonly uws: typeof UWS;
  /** name is the package's name as its package.json gives it, e.g. `@btc-vision/uwebsockets.js`. */
  readonly name: string;
  /** version is that package's version, e.g. `20.57.0`. */
  readonly version: string;
}

/**
 * loadNativeUws returns the first of `builds` whose native module loads, or throws NativeServerError
 * naming this Node, this libc, why each build did not load and which pairs do.
 */
export function loadNativeUws(builds: readonly UwsBuild[] = UWS_BUILDS): NativeUws {
  const fallbackFlag = process.env.UWS_USE_FALLBACK;
  if (fallbackFlag !== undefined && /^(1|true)$/i.test(fallbackFlag)) {
    throw new NativeServerError('UWS_USE_FALLBACK is set: probex requires the native uWebSockets.js build; unset it');
  }
  const require = createRequire(import.meta.url);
  const reasons: string[] = [];
  for (const build of builds) {
    const loaded = tryBuild(require, build.specifier);
    if (typeof loaded !== 'string') return loaded;
    reasons.push(`${build.specifier} (${build.runsOn}): ${loaded}`);
  }
  throw new NativeServerError(
    `no uWebSockets.js build loads on Node ${process.version} (${process.platform}-${process.arch}) with ${libc()}: ` +
      `${reasons.join('; ')}. Run probex on ${builds.map((b) => b.runsOn).join(', or on ')}`,
  );
}

/** describeUws names the build serving for the start log: `uWebSockets.js 20.57.0 (@btc-vision/uwebsockets.js)`. */
export function describeUws({ name, version }: NativeUws): string {
  const upstream = /^\d+\.\d+\.\d+/.exec(version)?.[0] ?? version;
  const pkg = name === 'uWebSockets.js' && upstream === version ? '' : ` (${name}@${version})`;
  return `uWebSockets.js ${upstream}${pkg}`;
}

/** tryBuild loads one package's native module, or says in one line why it did not. */
function tryBuild(require: NodeJS.Require, specifier: string): NativeUws | string {
  let entry: string;
  try {
    entry = require.resolve(specifier);
  } catch {
    return 'not installed';
  }
  const printed: string[] = [];
  let uws: typeof UWS;
  try {
    uws = withConsoleCaptured(printed, () => require(specifier) as typeof UWS);
  } catch (err) {
    const { message } = err as Error;
    return causeOf(message) ?? message.split('\n')[0]!;
  }
  if (typeof uws.App !== 'function' || !Function.prototype.toString.call(uws.App).includes('[native code]')) {
    const said = printed.map(causeOf).find((line) => line !== undefined);
    return `its native build did not load (it offered a JavaScript fallback)${said === undefined ? '' : `: ${said}`}`;
  }
  const pkg = packageOf(entry);
  return { uws, name: pkg.name, version: pkg.version };
}

/**
 * withConsoleCaptured runs `load` with the console's writers collecting into `printed`: a package entry
 * that prints while it loads (a warning, its fallback's banner) would otherwise interleave plain text
 * with the JSON log lines on stdout.
 */
function withConsoleCaptured<T>(printed: string[], load: () => T): T {
  const methods = ['log', 'info', 'warn', 'error', 'debug'] as const;
  const saved = methods.map((m) => console[m]);
  for (const m of methods) console[m] = (...args: unknown[]) => void printed.push(args.map(String).join(' '));
  try {
    return load();
  } finally {
    methods.forEach((m, i) => (console[m] = saved[i]!));
  }
}

/** packageOf reads the package.json that owns a package's entry file (the nearest one with a name and version). */
function packageOf(entry: string): { name: string; version: string } {
  for (let dir = dirname(entry); ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (typeof pkg.name === 'string' && typeof pkg.version === 'string')
        return { name: pkg.name, version: pkg.version };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (dirname(dir) === dir) return { name: 'uWebSockets.js', version: 'unknown' };
  }
}

/**
 * causeOf picks the innermost `...Error: ...` line of a loader's message (the dlopen or resolve error it
 * wraps, without Node's require stack), or undefined when it has none.
 */
function causeOf(message: string): string | undefined {
  return message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^[A-Za-z]*Error: /.test(l))
    .at(-1);
}

/** libc names the C library this process runs on, as Node's diagnostic report sees it. */
function libc(): string {
  const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  const glibc = header?.glibcVersionRuntime;
  return glibc === undefined ? 'a C library that is not glibc (musl?)' : `glibc ${glibc}`;
}
