// The service's two flows, end to end in headless Chromium (playwright-core), as a user clicks
// them: onboarding and "How do I create a soft token?" (My Tokens → Create → Reset PIN → PUSH →
// Email → the emailed link → QR code → first code), a sign-in with PIN + OTP, then the ICE logon
// (Static Password → security questions → Emergency → Request → Submit) and a sign-in with the
// emergency code. The QR code is read from the page's pixels (jsQR) and codes come from oathtool.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';
import { chromium } from 'playwright-core';
import { ANSWERS, PASSWORD, activationCode, fail, oath, pageChecks, qpDecode } from './lib.mjs';

const { HAVEN_URL, ONBOARDING_LINK, DATA_DIR, CHROMIUM, USER_ID } = process.env;

function outboxLink(subject, path) {
  const dir = join(DATA_DIR, 'outbox');
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.eml'))) {
    const mail = qpDecode(readFileSync(join(dir, name), 'utf8'));
    if (mail.includes(`Subject: ${subject}`)) {
      const match = mail.match(new RegExp(`https://\\S+${path}\\?token=[A-Za-z0-9_-]{43}`));
      if (match) return match[0];
    }
  }
  return null;
}

const { check, narrow } = pageChecks(DATA_DIR, 'page');

/// Read the QR code on the page as a phone's camera would: from its pixels.
async function scanQr(page) {
  const png = PNG.sync.read(await page.locator('figure.qr svg').screenshot());
  const found = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  if (!found) fail('the QR code could not be read from the page');
  return found.data;
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
const context = await browser.newContext({ ignoreHTTPSErrors: true });
const page = await context.newPage();
page.setDefaultTimeout(20000);
try {
  // Onboarding: password and three security questions.
  await page.goto(ONBOARDING_LINK);
  await check(page, 'onboarding');
  await narrow(page, 'onboarding');
  await page.fill('#password', PASSWORD);
  await page.fill('#password_confirm', PASSWORD);
  for (let i = 0; i < 3; i++) await page.fill(`#answer${i}`, ANSWERS[i]);
  await page.click('button:has-text("Continue")');
  await page.waitForURL('**/security/tokens');
  await check(page, 'tokens-empty');

  // How do I create a soft token?
  await page.click('nav.tabs >> text=My Tokens');
  await page.selectOption('#product', { label: 'MobileID/Time-Based' });
  await page.click('button:has-text("Submit")');
  await page.waitForURL('**/security/tokens?done=created');
  await page.click('summary:has-text("Actions")');
  await check(page, 'tokens-menu');
  await page.click('a:has-text("Reset PIN")');
  await check(page, 'pin');
  await narrow(page, 'pin');
  // A mistake first: the error names its field.
  await page.fill('#pin', '4917');
  await page.fill('#pin_confirm', '4918');
  await page.click('button:has-text("Submit")');
  await check(page, 'pin-error');
  await page.fill('#pin', '4917');
  await page.fill('#pin_confirm', '4917');
  await page.click('button:has-text("Submit")');
  await page.waitForURL('**/security/tokens?done=pin');
  await page.click('summary:has-text("Actions")');
  await page.click('a:has-text("PUSH")');
  await check(page, 'push');
  await page.click('button:has-text("Email")');
  await page.waitForURL('**/security/tokens?done=emailed');
  const link = outboxLink('Haven - Your Token (MobileID)', '/security/tokens/receive');
  if (!link) fail('no token email with a delivery link in the outbox');
  await page.goto(link);
  await check(page, 'receive');
  await page.click('button:has-text("Show my token")');
  await page.locator('figure.qr svg').waitFor();
  await check(page, 'enrol-qr');
  const uri = await scanQr(page);
  if (!uri.startsWith('otpauth://totp/')) fail(`unexpected URI ${uri}`);
  const shown = (await page.textContent('#otpauth-uri')).trim();
  if (shown !== uri) fail(`the QR code (${uri}) and the URI shown (${shown}) differ`);
  const secret = new URL(uri).searchParams.get('secret');
  await page.fill('#code', await activationCode(secret));
  await page.click('button:has-text("Activate")');
  await page.waitForURL('**/security/tokens?done=activated');
  if (!(await page.textContent('table')).includes('Active')) fail('the token is not active');
  await check(page, 'tokens-active');
  await narrow(page, 'tokens-active');

  // The page says what comes next: sign in with the token.
  await page.click('button:has-text("Sign in with my token")');
  await page.waitForURL('**/security/signin?done=ready');
  await check(page, 'signin-ready');
  await narrow(page, 'signin-ready');
  await page.fill('#user_id', USER_ID);
  await page.fill('#password', PASSWORD);
  await page.fill('#passcode', '4917' + oath('--totp', '-w', '1', '-b', secret)[1]);
  await page.click('button:has-text("Sign in")');
  // The first sign-in asks for the Acceptable Use Statement, then goes where it was going.
  await page.waitForURL('**/governance/aus?next=%2Fsecurity');
  await check(page, 'aus');
  await narrow(page, 'aus');
  await page.click('button:has-text("I accept")');
  await page.waitForURL('**/security?done=aus');
  if (!(await page.textContent('main')).includes('1 active of 1')) fail('home does not show the active token');
  await check(page, 'security-home');
  for (const tab of ['Password', 'Recovery codes', 'Sessions', 'Repository tokens', 'API tokens', 'Security questions', 'Emergency']) {
    await page.click(`nav.tabs >> text=${tab}`);
    await check(page, tab.toLowerCase().replace(/ /g, '-'));
    await narrow(page, tab.toLowerCase().replace(/ /g, '-'));
  }
  // An API token, shown once with a line to try it, then listed (and the line must fit a phone).
  await page.click('nav.tabs >> text=API tokens');
  await page.fill('#label', 'nightly register export');
  await page.click('button:has-text("Make token")');
  const made = await page.textContent('main');
  if (!/haven_api_[A-Za-z0-9_-]{43}/.test(made) || !made.includes('nightly register export')) fail('the API token was not shown and listed');
  await check(page, 'api-token-made');
  await narrow(page, 'api-token-made');
  // The user is also a service-desk administrator: the desk's and the package portal's pages.
  await page.click('nav.tabs >> text=Service desk');
  await check(page, 'desk');
  await page.fill('#q', USER_ID);
  await page.click('button:has-text("Search")');
  await page.click(`a:has-text("${USER_ID}")`);
  await check(page, 'desk-user');
  await narrow(page, 'desk-user');
  for (const path of ['/security/desk/tokens', '/packages/requests', '/packages/requests/new', '/packages/review', '/packages/policy',
    '/governance', '/governance/requests', '/governance/decisions', '/governance/register', '/governance/ig', '/governance/reports']) {
    await page.goto(HAVEN_URL + path);
    await check(page, path.slice(1).replace(/\//g, '-'));
    await narrow(page, path.slice(1).replace(/\//g, '-'));
  }
  await page.goto(HAVEN_URL + '/security');
  await page.click('button:has-text("Sign out")');

  // I don't have my token: the ICE logon procedure.
  await page.goto(HAVEN_URL + '/');
  await page.click('text=Security & Tokens');
  await check(page, 'signin');
  await page.click('text=Use ICE logon procedure');
  await check(page, 'ice-user');
  await page.fill('#user_id', USER_ID);
  await page.click('button:has-text("Continue")');
  await check(page, 'ice-password');
  await page.selectOption('#authenticator', { label: 'Static Password' });
  await page.fill('#password', PASSWORD);
  await page.click('button:has-text("Continue")');
  await check(page, 'ice-questions');
  await narrow(page, 'ice-questions');
  for (let i = 0; i < 3; i++) await page.fill(`#answer${i}`, ANSWERS[i]);
  await page.click('button:has-text("Continue")');
  await page.waitForURL(/\/security$/);
  await page.click('nav.tabs >> text=Emergency');
  await check(page, 'ice-emergency');
  await page.click('a:has-text("Request")');
  await check(page, 'ice-emergency-request');
  await page.click('button:has-text("Submit")');
  await check(page, 'ice-emergency-code');
  await narrow(page, 'ice-emergency-code');
  const code = (await page.textContent('#emergency-code')).trim();
  if (!/^\d{8}$/.test(code)) fail(`the Code column shows ${code}`);
  await page.click('button:has-text("Sign out")');
  await page.fill('#user_id', USER_ID);
  await page.fill('#password', PASSWORD);
  await page.fill('#passcode', code);
  await page.click('button:has-text("Sign in")');
  await page.waitForURL(/\/security$/);
  console.log('E2E OK');
} catch (e) {
  await page.screenshot({ path: join(DATA_DIR, 'e2e-failure.png') }).catch(() => {});
  const shown = await page.textContent('main').catch(() => '');
  fail(`${e.message}\nat ${page.url()}\npage: ${shown.replace(/\s+/g, ' ').slice(0, 600)}`);
} finally {
  await browser.close();
}
