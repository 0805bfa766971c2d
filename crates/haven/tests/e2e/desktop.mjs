// A desktop session in headless Chromium: a member launches it, noVNC on Haven's page draws the
// session's screen (Xvnc with a window manager and xterm, in the sandbox) from the RFB bytes
// Haven relays; typing reaches the desktop. Another signed-in user gets 404 for the session and
// its WebSocket. Haven's page is checked with axe-core.
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { fail, onboard, pageChecks } from './lib.mjs';

const { HAVEN_URL, CHROMIUM, DATA_DIR, MEMBER_LINK, OTHER_LINK } = process.env;
const { check } = pageChecks(DATA_DIR, 'desktop');

/// How many different colours the desktop's canvas shows (a blank screen has one or two).
const colours = (page) =>
  page.evaluate(() => {
    const canvas = document.querySelector('#screen canvas');
    if (!canvas || !canvas.width) return 0;
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    const seen = new Set();
    for (let i = 0; i < data.length; i += 4 * 7) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return seen.size;
  });

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
try {
  const page = await onboard(browser, MEMBER_LINK, 'rita');
  await page.goto(HAVEN_URL + '/apps');
  await page.selectOption('#asset', 'heart');
  await page.selectOption('#app', 'desktop@1');
  const started = Date.now();
  await page.click('button:has-text("Launch")');
  await page.waitForURL('**/apps/sessions/*');
  const sessionUrl = page.url().split('?')[0];
  await page.locator('#desktop-state', { hasText: 'Connected' }).waitFor({ timeout: 30000 })
    .catch(async () => fail(`the desktop did not connect: ${await page.textContent('main')}`));
  for (const until = Date.now() + 30000; (await colours(page)) < 3; ) {
    if (Date.now() > until) {
      await page.screenshot({ path: `${DATA_DIR}/desktop-failed.png` });
      fail(`the desktop's screen stayed blank (${await colours(page)} colours)`);
    }
    await page.waitForTimeout(200);
  }
  console.log(`desktop usable ${Date.now() - started} ms after Launch`);
  await check(page, 'screen');
  // Typing reaches the xterm on the desktop: a command whose effect Haven can see on N:.
  // Windows fill the desktop, and the keyboard follows the pointer: a click gives it to xterm.
  // Its shell may still be starting: the (idempotent) command is typed again until its file is
  // on N: (this process runs beside Haven and reads the data directory to see).
  const typed = `${DATA_DIR}/drives/assets/heart/homes/rita/desktop.txt`;
  const ran = () => { try { return readFileSync(typed, 'utf8') === 'typed-on-the-desktop\n'; } catch { return false; } };
  for (let attempt = 0; !ran(); attempt++) {
    if (attempt === 5) fail('what was typed on the desktop never ran there');
    await page.click('#screen canvas');
    await page.keyboard.type('echo typed-on-the-desktop > /drives/N/desktop.txt\n');
    for (const until = Date.now() + 3000; !ran() && Date.now() < until; ) await page.waitForTimeout(100);
  }
  await page.screenshot({ path: `${DATA_DIR}/desktop-screen.png` });

  const other = await onboard(browser, OTHER_LINK, 'mallory');
  const r = await other.goto(sessionUrl);
  if (r.status() !== 404) fail(`another user got ${r.status()} for ${sessionUrl}`);
  const socket = await other.evaluate(
    (url) =>
      new Promise((resolve) => {
        const ws = new WebSocket(url.replace('https://', 'wss://') + '/desktop');
        ws.onopen = () => resolve('opened');
        ws.onerror = () => resolve('refused');
      }),
    sessionUrl,
  );
  if (socket !== 'refused') fail(`another user's WebSocket to the desktop: ${socket}`);

  await page.click('button:has-text("Stop this session")');
  await page.waitForURL('**/apps?done=session_stopped');
  console.log('E2E OK');
} finally {
  await browser.close();
}
