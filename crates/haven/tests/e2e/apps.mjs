// Applications & Data in headless Chromium (playwright-core): a member signs in, launches R in a
// terminal session on the asset, runs R in the browser's terminal (xterm.js over the WebSocket),
// and finds what R wrote in the asset's S:. Another signed-in user opening the first user's
// session URL, or its WebSocket, gets nothing. The member stops the session. Every page state
// is checked with axe-core, at 320 px too, and kept as a screenshot.
import { chromium } from 'playwright-core';
import { fail, onboard, pageChecks } from './lib.mjs';

const { HAVEN_URL, CHROMIUM, DATA_DIR, MEMBER_LINK, OTHER_LINK } = process.env;
const { check, narrow } = pageChecks(DATA_DIR, 'apps');

/// What the terminal shows, as text.
const screen = (page) => page.evaluate(() => document.querySelector('#terminal .xterm-rows')?.innerText ?? '');

async function shows(page, text, timeout = 60000) {
  const until = Date.now() + timeout;
  while (Date.now() < until) {
    if ((await screen(page)).includes(text)) return;
    await page.waitForTimeout(200);
  }
  fail(`the terminal never showed ${JSON.stringify(text)}; it shows:\n${await screen(page)}`);
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
try {
  const page = await onboard(browser, MEMBER_LINK, 'rita');
  await page.goto(HAVEN_URL + '/apps');
  await check(page, 'home');
  await narrow(page, 'home');
  await page.selectOption('#asset', 'heart');
  await page.selectOption('#app', 'r@4');
  const started = Date.now();
  await page.click('button:has-text("Launch")');
  await page.waitForURL('**/apps/sessions/*');
  const sessionUrl = page.url();
  await page.locator('#terminal-state', { hasText: 'Connected' }).waitFor({ timeout: 30000 });
  await shows(page, '>');
  console.log(`R usable ${Date.now() - started} ms after Launch`);
  await page.click('#terminal');
  await page.keyboard.type('cat(6 * 7, "\\n"); write.csv(data.frame(x = 1:3), "/drives/S/from-r.csv")\n');
  await shows(page, '42');
  await check(page, 'terminal');
  await narrow(page, 'terminal');

  // Copying out: select the answer with the mouse, then copy: nothing reaches the clipboard.
  const rows = await page.locator('#terminal .xterm-screen').boundingBox();
  await page.mouse.move(rows.x + 2, rows.y + 4);
  await page.mouse.down();
  await page.mouse.move(rows.x + 300, rows.y + 30);
  await page.mouse.up();
  const copied = await page.evaluate(() => {
    const data = new DataTransfer();
    const target = document.querySelector('#terminal textarea');
    target.dispatchEvent(new ClipboardEvent('copy', { clipboardData: data, bubbles: true, cancelable: true }));
    return data.getData('text/plain');
  });
  if (copied !== '') fail(`copying out of the terminal put ${JSON.stringify(copied)} on the clipboard`);

  // Another signed-in user cannot reach the session: not its page, not its WebSocket.
  const other = await onboard(browser, OTHER_LINK, 'mallory');
  const response = await other.goto(sessionUrl);
  if (response.status() !== 404) fail(`another user got ${response.status()} for ${sessionUrl}`);
  const socket = await other.evaluate(
    (url) =>
      new Promise((resolve) => {
        const ws = new WebSocket(url.replace('https://', 'wss://') + '/terminal');
        ws.binaryType = 'arraybuffer';
        ws.onmessage = () => resolve('got output');
        ws.onopen = () => setTimeout(() => resolve('opened'), 1000);
        ws.onerror = () => resolve('refused');
      }),
    sessionUrl,
  );
  if (socket !== 'refused') fail(`another user's WebSocket to the session: ${socket}`);

  // A message over 64 KiB (a dataset pasted in) ends the socket with "too big" (1009); the
  // session goes on. A WebSocket without a signed-in session gets nowhere.
  const tooBig = await page.evaluate(
    (url) =>
      new Promise((resolve) => {
        const ws = new WebSocket(url.replace('https://', 'wss://') + '/terminal');
        ws.onopen = () => ws.send(new Uint8Array(100 * 1024));
        ws.onclose = (e) => resolve(e.code);
      }),
    sessionUrl,
  );
  if (tooBig !== 1009) fail(`a 100 KiB message closed the socket with ${tooBig}, not 1009`);
  const anonymous = await browser.newContext({ ignoreHTTPSErrors: true });
  const stranger = await anonymous.newPage();
  await stranger.goto(HAVEN_URL + '/');
  const forged = await stranger.evaluate(
    (url) =>
      new Promise((resolve) => {
        const ws = new WebSocket(url.replace('https://', 'wss://') + '/terminal');
        ws.onopen = () => resolve('opened');
        ws.onerror = () => resolve('refused');
      }),
    sessionUrl,
  );
  if (forged !== 'refused') fail(`a WebSocket without a session: ${forged}`);
  // The session still answers after both.
  await page.reload();
  await page.locator('#terminal-state', { hasText: 'Connected' }).waitFor({ timeout: 30000 });
  await page.click('#terminal');
  await page.keyboard.type('cat("still", "here\\n")\n');
  await shows(page, 'still here');

  // The asset's drives: what R wrote is in S:, listed, with nothing to download.
  await page.goto(HAVEN_URL + '/apps/drives/heart?drive=shared');
  const listing = await page.textContent('table');
  if (!listing.includes('from-r.csv')) fail(`S: does not list what R wrote: ${listing}`);
  if ((await page.locator('a[download], a[href*="from-r.csv"]').count()) !== 0) fail('a file in S: can be downloaded');
  await check(page, 'drives');
  await narrow(page, 'drives');
  // Copied within the garden, from S: to outputs: the outputs page says so and lists it.
  const row = page.locator('tr', { hasText: 'from-r.csv' });
  await row.locator('select[name="to"]').selectOption('outputs');
  await row.locator('button:has-text("Copy")').click();
  await page.waitForURL('**/apps/drives/heart?drive=outputs*done=file_copied*');
  if (!(await page.textContent('[role="status"]')).includes('copied here as from-r.csv')) fail('no notice of the copy');
  if (!(await page.textContent('table')).includes('from-r.csv')) fail('outputs does not list the copy');
  await check(page, 'copied');
  await page.goto(HAVEN_URL + '/apps/catalogue');
  if (!(await page.textContent('table')).includes('/usr/bin/R')) fail('the catalogue does not list R');
  if ((await page.locator('form[action="/apps/catalogue"]').count()) !== 0) fail('a researcher may add to the catalogue');
  await check(page, 'catalogue');
  await page.goto(sessionUrl);

  // The member stops it; the page says what became of it.
  await page.click('button:has-text("Stop this session")');
  await page.waitForURL('**/apps?done=session_stopped');
  await check(page, 'stopped');
  const listed = await page.textContent('table');
  if (!listed.includes('stopped by rita')) fail(`My sessions does not show the stop: ${listed}`);

  // A batch job: R reads the script, the serving Haven runs it, the page shows its state and log.
  await page.goto(HAVEN_URL + '/apps/jobs');
  await check(page, 'jobs');
  await narrow(page, 'jobs');
  await page.selectOption('#asset', 'heart');
  await page.selectOption('#app', 'r@4');
  await page.fill('#name', 'mean.R');
  await page.fill('#script', 'x <- c(2, 4, 9)\ncat("mean is", mean(x), "\\n")\nwrite.csv(data.frame(x = x), "/drives/outputs/job.csv")\n');
  await page.click('button:has-text("Submit")');
  await page.waitForURL('**/apps/jobs/*');
  const jobUrl = page.url().split('?')[0];
  await check(page, 'job-queued');
  const until = Date.now() + 60000;
  // The page follows the job by itself (job.js), without a reload.
  while (!(await page.textContent('#job-state')).startsWith('succeeded')) {
    if (Date.now() > until) fail(`the job did not succeed: ${await page.textContent('main')}`);
    await page.waitForTimeout(500);
  }
  const log = await page.textContent('#job-log');
  if (!log.includes('mean is 5')) fail(`the job's log: ${log}`);
  await check(page, 'job-done');
  await narrow(page, 'job-done');
  // Someone else: 404 for the job's page.
  const otherJob = await other.goto(jobUrl);
  if (otherJob.status() !== 404) fail(`another user got ${otherJob.status()} for ${jobUrl}`);
  console.log('E2E OK');
} finally {
  await browser.close();
}
