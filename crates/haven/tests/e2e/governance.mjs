// The governance path end to end in headless Chromium (playwright-core), as people click it:
// an IAA asks for a new person → the service desk approves → the welcome email reaches the SMTP
// server → the person onboards (password, questions, a token whose codes come from oathtool),
// accepts the Acceptable Use Statement and sees the asset; a plain member asking for access is
// refused. Every page state is checked with axe-core and kept as a screenshot.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { fail, onboard, pageChecks, qpDecode } from './lib.mjs';

const { HAVEN_URL, CHROMIUM, DATA_DIR, MAILDIR, DESK_LINK, IAA_LINK, NEW_EMAIL, COMPLETED } = process.env;
const COURSE = 'data-security-awareness';

/// The onboarding link in the mail the SMTP server received for `to`, waiting for it.
async function mailedLink(to) {
  for (let i = 0; i < 100; i++) {
    for (const sub of ['new', 'cur']) {
      let names = [];
      try { names = readdirSync(join(MAILDIR, sub)); } catch { continue; }
      for (const name of names) {
        const mail = qpDecode(readFileSync(join(MAILDIR, sub, name), 'utf8'));
        if (!mail.includes(to)) continue;
        const match = mail.match(/https:\/\/\S+\/security\/onboard\?token=[A-Za-z0-9_-]{43}/);
        if (match && mail.includes('Subject: Haven - your new account')) return match[0];
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  fail(`no welcome email to ${to} reached the SMTP server`);
}

const { check, narrow } = pageChecks(DATA_DIR, 'gov');

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
let page = null;
try {
  // The IAA asks for a new person from the asset's page.
  page = await onboard(browser, IAA_LINK, 'ian');
  await page.click('a:has-text("My assets")');
  await page.waitForURL('**/governance');
  await check(page, 'iaa-my-assets');
  await page.click('a:has-text("heart")');
  await page.waitForURL('**/governance/assets/heart');
  await check(page, 'iaa-asset');
  await narrow(page, 'iaa-asset');
  await page.click('a:has-text("New access request")');
  await check(page, 'request-form');
  await narrow(page, 'request-form');
  // A mistake first: no end date. The error names its field, and what was typed stays.
  await page.fill('#email', NEW_EMAIL);
  await page.fill('#name', 'Nina New');
  await page.fill('#organisation', 'Cardiology');
  await page.fill('#justification', 'Analyses the cardiac outcomes for the study.');
  await page.click('button:has-text("Send to the service desk")');
  await page.locator('#ends[aria-invalid="true"]').waitFor();
  await check(page, 'request-error');
  if ((await page.inputValue('#email')) !== NEW_EMAIL) fail('the form lost the email');
  const year = new Date().getUTCFullYear() + 1;
  await page.fill('#ends', `${year}-01-31`);
  await page.click('button:has-text("Send to the service desk")');
  await page.waitForURL('**/governance/requests?done=requested');
  if (!(await page.textContent('main')).includes('pending')) fail('the request is not listed as pending');
  await check(page, 'my-requests');
  await page.context().close();

  // The service desk approves it.
  page = await onboard(browser, DESK_LINK, 'dora');
  await page.goto(HAVEN_URL + '/governance/decisions');
  await check(page, 'pending-decisions');
  await page.click('a:has-text("#1")');
  await check(page, 'decision');
  await narrow(page, 'decision');
  await page.fill('#reason', 'Covered by the IG case.');
  await page.click('button:has-text("Approve")');
  await page.waitForURL('**/governance/decisions?done=decided');
  await check(page, 'decided');

  // The welcome email reaches the SMTP server; the desk records the person's training.
  const welcome = await mailedLink(NEW_EMAIL);
  const newId = NEW_EMAIL.split('@')[0];
  await page.goto(HAVEN_URL + '/governance/ig');
  await check(page, 'ig-records');
  await narrow(page, 'ig-records');
  await page.fill('#user_id', newId);
  await page.fill('#course', COURSE);
  await page.fill('#completed', COMPLETED);
  await page.click('button:has-text("Record")');
  await page.waitForURL(`**/governance/ig?user=${newId}&done=training`);
  await check(page, 'ig-recorded');
  for (const path of ['/governance/register', '/governance/reports', '/governance/assets/heart']) {
    await page.goto(HAVEN_URL + path);
    await check(page, path.slice(1).replace(/\//g, '-'));
    await narrow(page, path.slice(1).replace(/\//g, '-'));
  }
  await page.context().close();

  // The new person onboards, accepts the AUS and sees the asset, reachable.
  page = await onboard(browser, welcome, newId);
  await page.goto(HAVEN_URL + '/governance');
  await check(page, 'member-my-assets');
  await narrow(page, 'member-my-assets');
  const row = (await page.locator('tbody tr', { hasText: 'heart' }).textContent()).replace(/\s+/g, ' ');
  if (!row.includes('member') || !row.includes('yes')) fail(`My assets does not show heart as reachable: ${row}`);
  // A plain member may not ask for access for anyone.
  const refused = await page.goto(HAVEN_URL + '/governance/assets/heart/request');
  if (refused.status() !== 403) fail(`a plain member reached the request form: ${refused.status()}`);
  await check(page, 'member-refused');
  console.log('E2E OK');
} catch (e) {
  if (page) {
    await page.screenshot({ path: join(DATA_DIR, 'gov-failure.png') }).catch(() => {});
    const shown = await page.textContent('main').catch(() => '');
    fail(`${e.message}\nat ${page.url()}\npage: ${shown.replace(/\s+/g, ' ').slice(0, 600)}`);
  }
  fail(e.message);
} finally {
  await browser.close();
}
