/**
 * The uWebSockets.js loader: against the packages package.json installs (whichever loads on this Node and
 * libc), and against packages written to a temp dir that behave as the republished ones do when their
 * binary does not load (throw with the dlopen error inside; print a warning and hand back a JS shim).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { describeUws, loadNativeUws, UWS_BUILDS, type UwsBuild } from '../../src/http/uws.ts';

const dir = mkdtempSync(join(tmpdir(), 'probex-uws-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** fakePackage writes a CommonJS package whose entry (`main`) runs `body`, and returns its directory. */
function fakePackage(name: string, version: string, main: string, body: string): string {
  const root = join(dir, name);
  mkdirSync(dirname(join(root, main)), { recursive: true });
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name, version, main }));
  writeFileSync(join(root, main), body);
  return root;
}

/**
 * throwing writes a package that fails as uNetworking's entry does: its own sentence, then the dlopen error
 * and Node's require stack. (Each test writes its own packages: Node caches a module once it loaded.)
 */
const throwing = (name: string): string =>
  fakePackage(
    name,
    '20.57.0',
    'uws.js',
    `throw new Error("This version of uWS.js supports only Node.js versions 20, 22, 24 and 25.\\n\\n" +
    "Error: /lib/x86_64-linux-gnu/libc.so.6: version \`GLIBC_2.38' not found\\nRequire stack:\\n- /x/uws.js");`,
  );
/** shim writes a package that prints a warning while loading and returns a JavaScript App, as the legacy one does. */
const shim = (name: string): string =>
  fakePackage(
    name,
    '20.30.0-unofficial.0',
    'src/uws.js',
    `console.warn("This version of uWS is not compatible:\\n\\nError: Cannot find module '../binaries/uws_linux_x64_137.node'");
   console.log("Falling back to a NodeJS implementation");
   module.exports = { App: function App() {} };`,
  );
/**
 * NATIVE stands in for a build that loads: a bound function's source reads `[native code]`, as a native
 * App's does. Its entry sits below its package.json, as the legacy package's does.
 */
const NATIVE = fakePackage(
  'native',
  '20.99.1-repack.2',
  'lib/entry.js',
  'module.exports = { App: function App() {}.bind(null) };',
);

/** glibcVersion is the glibc this process runs on (`2.36`), or undefined on another libc. */
const glibcVersion = (): string | undefined =>
  (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime;

const build = (specifier: string): UwsBuild => ({ specifier, runsOn: `what ${specifier.split('/').at(-1)} needs` });

/** capturingStdio runs fn and returns what it wrote to stdout and stderr (and still lets it through). */
function capturingStdio<T>(fn: () => T): { result: T | Error; written: string } {
  let written = '';
  const writes = [process.stdout, process.stderr].map((stream) => {
    const original = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      written += String(chunk);
      return original(chunk, ...rest);
    }) as typeof stream.write;
    return () => (stream.write = original);
  });
  try {
    return { result: fn(), written };
  } catch (err) {
    return { result: err as Error, written };
  } finally {
    for (const restore of writes) restore();
  }
}

describe('loadNativeUws', () => {
  it('serves from the newest build that loads here: uWebSockets.js from glibc 2.38 on, else the legacy one on Node 20', () => {
    const native = loadNativeUws();
    assert.match(Function.prototype.toString.call(native.uws.App), /\[native code\]/);
    const [newest, legacy] = UWS_BUILDS.map(
      (b) =>
        JSON.parse(
          readFileSync(new URL(`../../node_modules/${b.specifier}/package.json`, import.meta.url), 'utf8'),
        ) as {
          name: string;
          version: string;
        },
    );
    const glibc = glibcVersion()?.split('.').map(Number);
    const modern = glibc !== undefined && (glibc[0]! > 2 || (glibc[0] === 2 && glibc[1]! >= 38));
    const expected = modern ? newest! : legacy!;
    assert.deepEqual(
      { name: native.name, version: native.version },
      { name: expected.name, version: expected.version },
      `Node ${process.version}, glibc ${glibcVersion()}`,
    );
    assert.match(describeUws(native), /^uWebSockets\.js \d+\.\d+\.\d+( \(.+@.+\))?$/);
  });

  it('takes the first build that loads natively, with its package.json name and version', () => {
    const native = loadNativeUws([build(throwing('throws-1')), build(shim('shim-1')), build(NATIVE)]);
    assert.equal(native.name, 'native');
    assert.equal(native.version, '20.99.1-repack.2');
    assert.equal(describeUws(native), 'uWebSockets.js 20.99.1 (native@20.99.1-repack.2)');
    assert.equal(describeUws({ ...native, name: 'uWebSockets.js', version: '20.57.0' }), 'uWebSockets.js 20.57.0');
  });

  it('when none loads, names Node, the libc, each build with its cause and what to run on, and prints nothing', () => {
    const [THROWS, SHIM] = [throwing('throws'), shim('shim')];
    const { result, written } = capturingStdio(() =>
      loadNativeUws([build(THROWS), build(SHIM), build(join(dir, 'absent'))]),
    );
    assert.ok(result instanceof Error, 'expected an error');
    assert.equal((result as Error & { code?: string }).code, 'EXPORTER_UWS_NOT_NATIVE');
    const message = result.message;
    const glibc = glibcVersion();
    assert.ok(message.includes(`on Node ${process.version} (${process.platform}-${process.arch}) with `), message);
    assert.ok(message.includes(glibc === undefined ? 'not glibc' : `glibc ${glibc}:`), message);
    assert.ok(
      message.includes(`${THROWS} (what throws needs): Error: /lib/x86_64-linux-gnu/libc.so.6: version`),
      `the dlopen error, not the package's sentence: ${message}`,
    );
    assert.doesNotMatch(message, /Require stack/);
    assert.ok(
      message.includes(
        `${SHIM} (what shim needs): its native build did not load (it offered a JavaScript fallback): ` +
          "Error: Cannot find module '../binaries/uws_linux_x64_137.node'",
      ),
      message,
    );
    assert.ok(message.includes(`${join(dir, 'absent')} (what absent needs): not installed`), message);
    assert.ok(
      message.endsWith('Run probex on what throws needs, or on what shim needs, or on what absent needs'),
      message,
    );
    assert.equal(written, '', 'what a package prints while loading stays off stdout and stderr');
  });

  it('refuses UWS_USE_FALLBACK, the switch to the JavaScript shim', (t) => {
    process.env.UWS_USE_FALLBACK = '1';
    t.after(() => delete process.env.UWS_USE_FALLBACK);
    assert.throws(() => loadNativeUws([build(NATIVE)]), {
      code: 'EXPORTER_UWS_NOT_NATIVE',
      message: /UWS_USE_FALLBACK is set/,
    });
  });
});
