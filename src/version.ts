/** probex's version, read once from package.json. */
import { existsSync, readFileSync } from 'node:fs';

export const VERSION = readVersion();

/** readVersion reads probex's version from package.json: `../` from src/, `../../` from the build in dist/src/. */
function readVersion(): string {
  for (const up of ['../', '../../']) {
    const url = new URL(`${up}package.json`, import.meta.url);
    if (existsSync(url)) return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}
