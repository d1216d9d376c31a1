/**
 * `probex run --junit FILE`: the run's verdict as JUnit XML, the format CI systems (Jenkins, GitLab,
 * GitHub Actions reporters) read. One <testsuite> for the run, one <testcase> per objective and target
 * (a `*` objective gives one per target, as evaluateSlos does): a met objective passes, a missed one has
 * a <failure> whose message holds the measured value and the threshold. Pure: the caller writes the file.
 */
import type { SloResult } from './slo.ts';
import type { RunSummary } from './summary.ts';

/** renderJunit renders the objectives' results as one JUnit testsuite. */
export function renderJunit(summary: RunSummary, slos: readonly SloResult[], runId: string): string {
  const failures = slos.filter((s) => !s.ok).length;
  let xml =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<testsuites name="probex run" tests="${slos.length}" failures="${failures}" errors="0" time="${summary.durationSeconds}">\n` +
    `  <testsuite name="probex run ${xmlEscape(runId)}" tests="${slos.length}" failures="${failures}" errors="0" skipped="0"` +
    ` time="${summary.durationSeconds}" timestamp="${xmlEscape(summary.startedAt.replace(/\.\d+Z$/, ''))}">\n`;
  for (const s of slos) {
    const name = `${s.target}: ${s.spec.replace(/^[^:]*:\s*/, '')}`;
    xml += `    <testcase classname="probex.slo.${xmlEscape(s.target)}" name="${xmlEscape(name)}" time="0">`;
    xml += s.ok
      ? `<system-out>${xmlEscape(s.message)}</system-out></testcase>\n`
      : `\n      <failure message="${xmlEscape(s.message)}" type="slo">${xmlEscape(s.message)}</failure>\n    </testcase>\n`;
  }
  return `${xml}  </testsuite>\n</testsuites>\n`;
}

/** xmlEscape escapes text for an XML attribute or element, and drops characters XML 1.0 cannot hold. */
function xmlEscape(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
