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

/// The current TOTP code of `secret` to activate a token with, taken at least 3 s before its
/// 30 s window ends: a code that reaches Haven after the window turned is accepted one step
/// late and teaches Haven that the token runs a step slow, so that the next window's code used
/// to sign in just after would be two steps ahead, and refused.
export async function activationCode(secret) {
  const left = 30 - ((Date.now() / 1000) % 30);
  if (left < 3) await new Promise((resolve) => setTimeout(resolve, left * 1000 + 200));
  return oath('--totp', '-b', secret)[0];
}

export function qpDecode(text) {
  return text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

// Chromium under load (tests run in parallel on two cores) now and then answers a full-page
// capture with "Unable to capture screenshot"; the page is fine, so the capture is retried.
async function snap(page, path) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await page.screenshot({ path, fullPage: true });
    } catch (err) {
      if (attempt >= 4 || !String(err).includes('Unable to capture screenshot')) throw err;
      await page.waitForTimeout(250 * attempt);
    }
  }
}

/// `check` and `narrow` for one script, its screenshots named `PREFIX-NN-label.png` in `dir`.
export function pageChecks(dir, prefix) {
  let shots = 0;
  const shot = (label) => join(dir, `${prefix}-${String(++shots).padStart(2, '0')}-${label}.png`);
  async function check(page, label) {
    await snap(page, shot(label));
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
    await snap(page, shot(`${label}-320px`));
    await page.setViewportSize({ width: 1280, height: 720 });
    if (wide > 0) fail(`${label} at ${page.url()} scrolls sideways by ${wide}px at 320px`);
  }
  return { check, narrow };
}

export const PASSWORD = 'cobalt lantern meadow quarrel';
export const ANSWERS = ['Elm Road', "St Mary's", 'Kyoto'];

/// Onboard through `link` as `userId`: password and questions, a soft token shown on screen
/// and activated with oathtool's code, sign in with PIN + code, and (`aus`) accept the
/// Acceptable Use Statement that the first sign-in asks for. The signed-in page.
export async function onboard(browser, link, userId, { aus } = { aus: true }) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  await page.goto(link);
  await page.fill('#password', PASSWORD);
  await page.fill('#password_confirm', PASSWORD);
  for (let i = 0; i < 3; i++) await page.fill(`#answer${i}`, ANSWERS[i]);
  await page.click('button:has-text("Continue")');
  await page.waitForURL('**/security/tokens');
  await page.selectOption('#product', { label: 'MobileID/Time-Based' });
  await page.click('button:has-text("Submit")');
  await page.waitForURL('**/security/tokens?done=created');
  await page.click('summary:has-text("Actions")');
  await page.click('a:has-text("Reset PIN")');
  await page.fill('#pin', '4917');
  await page.fill('#pin_confirm', '4917');
  await page.click('button:has-text("Submit")');
  await page.waitForURL('**/security/tokens?done=pin');
  await page.click('summary:has-text("Actions")');
  await page.click('a:has-text("PUSH")');
  await page.click('button:has-text("On screen")');
  const uri = (await page.textContent('#otpauth-uri')).trim();
  const secret = new URL(uri).searchParams.get('secret');
  await page.fill('#code', await activationCode(secret));
  await page.click('button:has-text("Activate")');
  await page.waitForURL('**/security/tokens?done=activated');
  await page.click('button:has-text("Sign in with my token")');
  await page.waitForURL('**/security/signin?done=ready');
  await page.fill('#user_id', userId);
  await page.fill('#password', PASSWORD);
  await page.fill('#passcode', '4917' + oath('--totp', '-w', '1', '-b', secret)[1]);
  await page.click('button:has-text("Sign in")');
  // The first sign-in asks for the Acceptable Use Statement.
  await page.waitForURL('**/governance/aus?next=%2Fsecurity');
  if (aus) {
    await page.click('button:has-text("I accept")');
    await page.waitForURL('**/security?done=aus');
  }
  return page;
}
