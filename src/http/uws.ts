/**
 * Loads uWebSockets.js and insists on its native build. The republished package silently falls back to
 * a slow pure-JS shim when its binary does not load (wrong glibc, wrong Node ABI, UWS_USE_FALLBACK=1);
 * probex's whole point is the fast path, so that fallback is a start-up error, not a warning.
 */
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';
import { NativeServerError } from '../errors.ts';

/** loadNativeUws returns the native uWebSockets.js module or throws NativeServerError saying why not. */
export function loadNativeUws(): typeof UWS {
  const fallbackFlag = process.env.UWS_USE_FALLBACK;
  if (fallbackFlag !== undefined && /^(1|true)$/i.test(fallbackFlag)) {
    throw new NativeServerError('UWS_USE_FALLBACK is set: probex requires the native uWebSockets.js build; unset it');
  }
  const require = createRequire(import.meta.url);
  const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  let uws: typeof UWS;
  try {
    // Load the binary directly (the same file the package's index picks) so a failure surfaces with its real cause.
    uws = require(`uWebSockets.js/binaries/${binary}`) as typeof UWS;
  } catch (err) {
    throw new NativeServerError(
      `uWebSockets.js native build ${binary} did not load (needs Linux x64 with glibc >= 2.36 and Node 20): ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (!Function.prototype.toString.call(uws.App).includes('[native code]')) {
    throw new NativeServerError(`uWebSockets.js loaded ${binary} but App is not native`);
  }
  return uws;
}
