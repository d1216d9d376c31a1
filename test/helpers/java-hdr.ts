/**
 * HdrHistogram's Java reference implementation (Debian's libhdrhistogram-java, with a JDK): the truth the
 * tests of src/hdr/ compare against. requireJavaHdr() checks it is installed: missing and CI=true, the
 * test fails; missing elsewhere, it skips and says what to install.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

/** HDR_JAR is the HdrHistogram jar the Java reference runs from. */
export const HDR_JAR = process.env.HDR_JAR ?? '/usr/share/java/hdrhistogram.jar';
const REFERENCE = fileURLToPath(new URL('../fixtures/hdr/HdrReference.java', import.meta.url));
const HAS_JAVA = spawnSync('java', ['-version']).error === undefined && existsSync(HDR_JAR);
/** JAVA_FLAGS keep Java's dates in UTC (as probex writes them) and its start-up short. */
const JAVA_FLAGS = ['-Duser.timezone=UTC', '-XX:TieredStopAtLevel=1', '-Xshare:auto'];

/** requireJavaHdr resolves true when java and the HdrHistogram jar are installed (see the file comment). */
export function requireJavaHdr(t: TestContext): boolean {
  if (HAS_JAVA) return true;
  const what = `java or ${HDR_JAR} is missing`;
  if (process.env.CI === 'true')
    assert.fail(`${what}; CI=true, so this fails (apt-get install default-jdk-headless libhdrhistogram-java)`);
  t.skip(`${what}: apt-get install default-jdk-headless libhdrhistogram-java`);
  return false;
}

/** java runs a class or single-file program with the HdrHistogram jar on the class path, feeding stdin. */
export function java(args: readonly string[], stdin = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'java',
      [...JAVA_FLAGS, '-cp', HDR_JAR, ...args],
      { maxBuffer: 64 << 20, timeout: 120_000 },
      (err, stdout, stderr) =>
        err === null ? resolve(stdout) : reject(new Error(`java ${args.join(' ')}: ${err.message}\n${stderr}`)),
    );
    child.stdin!.end(stdin);
  });
}

/** reference runs test/fixtures/hdr/HdrReference.java in MODE (see its header) and returns its stdout. */
export function reference(mode: string, args: readonly (string | number)[], stdin: string): Promise<string> {
  return java([REFERENCE, mode, ...args.map(String)], stdin);
}
