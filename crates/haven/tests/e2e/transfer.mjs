// File Transfer end to end in headless Chromium (playwright-core): the IAO signs in, sends a
// file from the asset's page (the file chooser, as drag-and-drop gives the same files), makes a
// drop-off link with a password; a provider opens the link in another browser, chooses a larger
// file, the page is reloaded part-way (its upload throttled so that there is a part-way), the
// same file chosen again carries on from where it stopped, and its SHA-256 is the file's; the
// receipt is saved. The IAO sees both arrivals, scanned, and accepts one. Every page state is
// checked with axe-core, at 320 px too, and kept as a screenshot.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { fail, onboard, pageChecks } from './lib.mjs';

const { HAVEN_URL, CHROMIUM, DATA_DIR, IAO_LINK, SCANNED } = process.env;
const { check, narrow } = pageChecks(DATA_DIR, 'transfer');

function file(name, bytes, seed) {
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 2654435761 + seed) >>> 24;
  const path = join(DATA_DIR, name);
  writeFileSync(path, data);
  return { path, sha256: createHash('sha256').update(data).digest('hex') };
}

async function arrived(page, name) {
  const item = page.locator('#upload-list li', { hasText: name });
  await item.locator('.status', { hasText: 'Arrived' }).waitFor({ timeout: 60000 });
  return (await item.locator('.status').textContent()).trim();
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
let page = null;
try {
  // The IAO sends a file from the asset's page.
  page = await onboard(browser, IAO_LINK, 'owen');
  await page.goto(HAVEN_URL + '/transfer');
  await check(page, 'home');
  await narrow(page, 'home');
  await page.click('a:has-text("heart")');
  await page.waitForURL('**/transfer/assets/heart');
  await check(page, 'asset-empty');
  const small = file('cohort.csv', 200000, 1);
  await page.setInputFiles('#files', small.path);
  const said = await arrived(page, 'cohort.csv');
  if (!said.includes(small.sha256)) fail(`the page does not show the file's SHA-256: ${said}`);
  await check(page, 'asset-sent');
  await narrow(page, 'asset-sent');

  // A drop-off link with a password, shown once.
  await page.fill('#label', 'Registry extract');
  await page.fill('#password', 'violet harbour ledger');
  await page.click('button:has-text("Make the link")');
  const link = (await page.textContent('#made-link')).trim();
  if (!link.startsWith(HAVEN_URL + '/transfer/drop/')) fail(`no link shown: ${link}`);
  await check(page, 'link-made');
  await narrow(page, 'link-made');

  // The provider: another browser, no account; the upload is throttled so that a reload can
  // come part-way through.
  const provider = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true });
  let drop = await provider.newPage();
  drop.setDefaultTimeout(30000);
  const throttle = async (p) => {
    const cdp = await provider.newCDPSession(p);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 2 * 1024 * 1024,
    });
  };
  await throttle(drop);
  await drop.goto(link);
  await check(drop, 'drop');
  await narrow(drop, 'drop');
  const big = file('extract.bin', 12 * 1024 * 1024, 7);
  await drop.fill('#link-password', 'violet harbour ledger');
  await drop.setInputFiles('#files', big.path);
  const item = drop.locator('#upload-list li', { hasText: 'extract.bin' });
  await item.locator('.status', { hasText: 'of' }).waitFor();
  for (let i = 0; i < 200; i++) {
    const value = await item.locator('progress').evaluate((p) => p.value / p.max);
    if (value > 0.15) break;
    await drop.waitForTimeout(100);
  }
  await check(drop, 'drop-progress');
  // Pause and resume in place, then lose the page.
  await item.locator('button:has-text("Pause")').click();
  await item.locator('.status', { hasText: 'Paused' }).waitFor();
  await item.locator('button:has-text("Resume")').click();
  await drop.waitForTimeout(500);
  await drop.reload();
  await throttle(drop);
  await drop.fill('#link-password', 'violet harbour ledger');
  await drop.setInputFiles('#files', big.path);
  const again = drop.locator('#upload-list li', { hasText: 'extract.bin' });
  await again.locator('.note', { hasText: 'Carrying on' }).waitFor({ timeout: 10000 }).catch(() => {
    throw new Error('the page did not carry on from where the upload stopped');
  });
  const startedAt = await again.locator('progress').evaluate((p) => p.value);
  const done = await arrived(drop, 'extract.bin');
  if (!done.includes(big.sha256)) fail(`the SHA-256 shown is not the file's: ${done}`);
  await check(drop, 'drop-arrived');
  await narrow(drop, 'drop-arrived');
  const [download] = await Promise.all([drop.waitForEvent('download'), again.locator('button:has-text("Save receipt")').click()]);
  const receipt = JSON.parse(readFileSync(await download.path(), 'utf8'));
  if (JSON.parse(receipt.manifest).sha256 !== big.sha256) fail('the receipt does not name the file');
  console.log(`resumed at ${startedAt} of ${12 * 1024 * 1024} bytes`);
  await provider.close();

  // The IAO sees both arrivals; once scanned, accepts the small one.
  await page.goto(HAVEN_URL + '/transfer/assets/heart');
  for (let i = 0; SCANNED === '1' && i < 60; i++) {
    if (!(await page.textContent('main')).includes('scan pending')) break;
    await page.waitForTimeout(1000);
    await page.reload();
  }
  const table = (await page.textContent('main')).replace(/\s+/g, ' ');
  if (!table.includes('cohort.csv') || !table.includes('extract.bin')) fail(`arrivals not listed: ${table}`);
  await check(page, 'arrivals');
  await narrow(page, 'arrivals');
  if (SCANNED === '1') {
    const row = page.locator('tbody tr', { hasText: 'cohort.csv' });
    await row.locator('button:has-text("Accept")').click();
    await page.waitForURL('**/transfer/assets/heart?done=accepted');
    if (!(await page.textContent('main')).includes('accepted by owen')) fail('the decision is not shown');
    await check(page, 'accepted');
  }
  console.log('E2E OK');
} catch (e) {
  if (page) {
    await page.screenshot({ path: join(DATA_DIR, 'transfer-failure.png') }).catch(() => {});
  }
  fail(e.stack || e.message);
} finally {
  await browser.close();
}
