/**
 * The status page as an operator sees it: headless Chromium (Debian's, driven by playwright-core) loads `/`
 * from a real probex probing the local Redis and MariaDB, a MariaDB login that is refused (its password is
 * in the URL), and synthetic targets. Every row and plot must be there, the refused login's error shown
 * without the password, nothing blocked by the CSP probex sends, nothing loaded but the page.
 * Screenshots go to test-artifacts/status-page-live-*.png (gitignored) for a person to look at.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { Browser } from 'playwright-core';
import { startProbex, waitFor, type ProbexProcess } from '../../support/probex-process.ts';
import { MYSQL_URL, REDIS_URL, requireService } from '../../support/services.ts';
import { ARTIFACTS, HAS_CHROMIUM, launchChromium, openPage, requireChromium } from '../helpers/chromium.ts';

const SECRET = `Pw${process.pid}Secret`;
const TARGETS = ['redis', 'mariadb', 'refused-login', 'synthetic-fast', 'synthetic-tail'];
const VIEWPORTS = [
  { name: 'laptop', width: 1366, height: 768 },
  { name: 'phone', width: 390, height: 844 },
] as const;

let probex: ProbexProcess | undefined;
let browser: Browser | undefined;

function config(): string {
  const refused = new URL(MYSQL_URL);
  refused.password = SECRET;
  return `
listen: { host: 127.0.0.1, port: 0 }
publishInterval: 200ms
targets:
  - { name: redis, kind: redis, url: "${REDIS_URL}", interval: 100ms }
  - { name: mariadb, kind: mysql, url: "${MYSQL_URL}", interval: 100ms }
  - { name: refused-login, kind: mysql, url: "${refused.href}", interval: 250ms }
  - { name: synthetic-fast, kind: synthetic, interval: 20ms, distribution: { type: lognormal, medianMs: 0.4, sigma: 0.3 } }
  - { name: synthetic-tail, kind: synthetic, interval: 20ms, errorRate: 0.02, distribution: { type: lognormal, medianMs: 5, sigma: 1.2 } }
`;
}

async function required(t: TestContext): Promise<boolean> {
  if (!requireChromium(t)) return false;
  return (await requireService(t, 'redis', REDIS_URL)) && requireService(t, 'mysql', MYSQL_URL);
}

before(async () => {
  if (!HAS_CHROMIUM) return;
  probex = await startProbex(config());
  browser = await launchChromium();
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await probex?.stop();
});

describe('the status page of a running probex in headless Chromium', () => {
  for (const vp of VIEWPORTS) {
    test(`${vp.name}: every target's row and plots, the refused login without its password, no CSP violation`, async (t) => {
      if (!(await required(t))) return;
      // Wait until the page has something to show for every target: both services up, the login refused.
      await waitFor(
        'every target probed',
        async () => {
          const html = await (await fetch(`${probex!.url}/`)).text();
          // Each probed target's card has its curve, and the refused login's error is on the page.
          const cards = new Map(
            [...html.matchAll(/<section class="panel card" id="t-([^"]+)">([^]*?)<\/section>/g)].map((m) => [
              m[1]!,
              m[2]!,
            ]),
          );
          const ok =
            TARGETS.every((n) => n === 'refused-login' || cards.get(n)?.includes('class="curve"')) &&
            /\(auth\): <code>/.test(html) &&
            /id="row-synthetic-tail"[^>]*>(?:(?!<\/tr>)[^])*Probes\/s">\d/.test(html);
          return ok ? true : undefined;
        },
        30_000,
      );
      const { page, messages, requests } = await openPage(browser!, t, vp);
      const res = await page.goto(`${probex!.url}/`, { waitUntil: 'load' });
      assert.equal(res?.status(), 200);
      assert.equal(res?.headers()['content-encoding'], 'gzip', 'Chromium asks for gzip and gets it');
      assert.ok(res?.headers()['content-security-policy']?.startsWith("default-src 'none'"));

      const rows = page.locator('tr.row');
      assert.deepEqual(
        await rows.evaluateAll((els) => els.map((e) => e.id)),
        TARGETS.map((n) => `row-${n}`),
      );
      for (const name of TARGETS) assert.ok(await page.locator(`tr[id="row-${name}"]`).isVisible(), name);
      for (const name of TARGETS) {
        const card = page.locator(`section.card[id="t-${name}"]`);
        assert.equal(await card.locator('svg').count(), 2, `${name}: percentile plot and bucket plot`);
        const curve = card.locator('path.curve');
        assert.equal(
          await curve.count(),
          name === 'refused-login' ? 0 : 1,
          `${name}: a curve exactly when it has successes`,
        );
        if (name !== 'refused-login') {
          const box = await curve.boundingBox();
          assert.ok(box !== null && box.width > 150, `${name}: the curve spans the plot (${JSON.stringify(box)})`);
        }
      }
      const error = await page.locator('tr[id="row-refused-login"] + tr.detail code').textContent();
      assert.match(error ?? '', /Access denied for user/);
      const text = await page.locator('body').innerText();
      assert.ok(!text.includes(SECRET), 'the password is nowhere on the page');
      assert.match(text, /DOWN/);

      assert.deepEqual(requests, [`${probex!.url}/`], 'the page loads nothing but itself');
      assert.deepEqual(
        messages.filter((m) => /Content Security Policy|Refused to|pageerror/i.test(m)),
        [],
      );
      const badge = await page
        .locator('.badge.down')
        .first()
        .evaluate((el) => el.ownerDocument.defaultView!.getComputedStyle(el).borderTopStyle);
      assert.equal(badge, 'solid', 'the stylesheet applied under the CSP probex sent');
      const widths = await page.locator('html').evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
      assert.ok(widths.scroll <= widths.client, `${vp.name}: no sideways scroll (${widths.scroll} > ${widths.client})`);

      await page.screenshot({ path: join(ARTIFACTS, `status-page-live-${vp.name}.png`), fullPage: true });
    });
  }
});
