// What the end-to-end scripts share: failing with a message, oathtool, quoted-printable mail,
// and the checks every page state gets (axe-core against WCAG 2.2 A and AA, reflow at 320 px),
// each kept as a screenshot in the data directory for a person to look at.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export function fail(message) {
  console.error(`E2E FAILED: ${message}`);
  process.exit(1);
}

export const oath = (...args) => execFileSync('oathtool', args).toString().trim().split('\n');

export function qpDecode(text) {
  return text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/// `check` and `narrow` for one script, its screenshots named `PREFIX-NN-label.png` in `dir`.
export function pageChecks(dir, prefix) {
  let shots = 0;
  const shot = (label) => join(dir, `${prefix}-${String(++shots).padStart(2, '0')}-${label}.png`);
  async function check(page, label) {
    await page.screenshot({ path: shot(label), fullPage: true });
    await page.evaluate(axeSource);
    const violations = await page.evaluate(async () => {
      const r = await globalThis.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] });
      return r.violations.map((v) => `${v.id} (${v.help}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    });
    if (violations.length) fail(`${label} at ${page.url()}: ${violations.join('; ')}`);
  }
  // WCAG 1.4.10 reflow: at 320 CSS pixels the page itself must not scroll sideways (a data
  // table may scroll inside its own box).
  async function narrow(page, label) {
    await page.setViewportSize({ width: 320, height: 640 });
    const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await page.screenshot({ path: shot(`${label}-320px`), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 720 });
    if (wide > 0) fail(`${label} at ${page.url()} scrolls sideways by ${wide}px at 320px`);
  }
  return { check, narrow };
}
