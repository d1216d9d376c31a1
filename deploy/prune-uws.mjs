// Image build step (deploy/Dockerfile, deps stage): keeps only the uWebSockets.js build that this image's
// Node and glibc load, and of it only the native binary that loaded. package.json installs two builds
// (docs/decisions.md), each with a binary for every platform and Node ABI (~200 MB together); the image
// needs one (~7 MB).
//
//   node deploy/prune-uws.mjs     from the app's root, after `npm ci` and with the compiled dist/ present
//
// The choice is probex's own: the compiled loader (dist/src/http/uws.js) loads the build exactly as probex
// will at start-up, so what stays is what serves. Every other `.node` file under the builds' directories is
// deleted, and a build left without one is deleted whole. Exits 1, deleting nothing, when no build loads.
import { readdirSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

// Real paths, as Node's module cache holds them.
const root = realpathSync(process.cwd());
const { loadNativeUws, describeUws, UWS_BUILDS } = await import(pathToFileURL(join(root, 'dist/src/http/uws.js')).href);

let serving;
try {
  serving = loadNativeUws();
} catch (err) {
  console.error(`prune-uws: ${err.message}`);
  process.exit(1);
}
// Node keeps every module it loaded, native ones included, in one cache: the binary that loaded is there.
const loaded = new Set(Object.keys(createRequire(import.meta.url).cache).filter((f) => f.endsWith('.node')));

/** nativeFiles lists every .node file under dir, recursively. */
function nativeFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.node'))
    .map((e) => join(e.parentPath ?? e.path, e.name));
}

for (const { specifier } of UWS_BUILDS) {
  const dir = join(root, 'node_modules', specifier);
  let files;
  try {
    files = nativeFiles(dir);
  } catch (err) {
    if (err.code === 'ENOENT') continue;
    throw err;
  }
  const kept = files.filter((f) => loaded.has(f));
  if (kept.length === 0) {
    rmSync(dir, { recursive: true, force: true });
    console.log(`prune-uws: removed ${relative(root, dir)} (${files.length} binaries, none loaded here)`);
    continue;
  }
  for (const f of files) if (!loaded.has(f)) rmSync(f);
  console.log(
    `prune-uws: kept ${kept.map((f) => relative(root, f)).join(', ')} of ${relative(root, dir)} ` +
      `(${describeUws(serving)}); removed its ${files.length - kept.length} other binaries`,
  );
}
