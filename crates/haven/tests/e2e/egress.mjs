// Egress end to end in headless Chromium (playwright-core): the IAO allows rita to request
// outputs; rita gathers a table and a note from the outputs area into a request, describes the
// group and submits it; two output checkers vote blind (the second sees both votes only after
// voting) and the failing table's cells are shown marked; the IAO approves (identifiable data); a
// checker releases; rita takes the single-use download link and saves the zip, which the Rust
// side verifies with `haven egress verify-manifest` against the pinned hashes. rita can never
// vote on her own request. Every page state is checked with axe-core, at 320 px too, and kept
// as a screenshot.
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { fail, onboard, pageChecks } from './lib.mjs';

const { HAVEN_URL, CHROMIUM, DATA_DIR, IAO_LINK, MEMBER_LINK, CARA_LINK, CARL_LINK } = process.env;
const { check, narrow } = pageChecks(DATA_DIR, 'egress');

async function submitForm(page, action, fill = async () => {}) {
  const form = page.locator(`form[action$="/${action}"]`).first();
  await fill(form);
  await Promise.all([page.waitForLoadState('load'), form.locator('button[type=submit]').click()]);
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
try {
  // rita, a member, signs up; the IAO allows her to request outputs.
  const rita = await onboard(browser, MEMBER_LINK, 'rita');
  const owen = await onboard(browser, IAO_LINK, 'owen');
  await owen.goto(HAVEN_URL + '/egress/assets/heart/permissions');
  await check(owen, 'permissions-empty');
  await owen.fill('#user', 'rita');
  await owen.click('button:has-text("Allow to request outputs")');
  await owen.waitForLoadState('load');
  if (!owen.url().endsWith('?done=permission')) fail(`not allowed: ${await owen.textContent('main')}`);
  if (!(await owen.textContent('#allowed')).includes('rita')) fail('rita is not listed as allowed');
  await check(owen, 'permissions-granted');

  // rita makes a request from her outputs.
  await rita.goto(HAVEN_URL + '/egress');
  await check(rita, 'home-empty');
  await narrow(rita, 'home-empty');
  await rita.fill('#title', 'Table 1 of the cardiac outcomes paper');
  await rita.click('button:has-text("Start a request")');
  await rita.waitForURL('**/egress/requests/*');
  const requestUrl = rita.url();
  await check(rita, 'request-new');
  for (const path of ['tables/counts.csv', 'notes.txt']) {
    await rita.fill('#path', path);
    await rita.fill('#group', 'tables');
    await rita.click('button:has-text("Add the file")');
    await rita.waitForURL('**done=saved');
  }
  // Submitting before the group is described says what to do.
  await submitForm(rita, 'submit');
  if (!(await rita.textContent('#form-error')).includes('describe the group')) fail('no message about the group');
  await check(rita, 'request-undescribed');
  await rita.fill('#description-1', 'Patients by region and year, from the 2024 extract');
  await rita.fill('#controls-1', 'Counts under 10 suppressed; rows with fewer than 3 sites merged');
  await rita.click('button:has-text("Save the description")');
  await rita.waitForURL('**done=saved');
  await check(rita, 'request-draft');
  await narrow(rita, 'request-draft');
  await rita.click('#submit');
  await rita.waitForURL('**done=saved');
  if (!(await rita.textContent('#request-state')).includes('submitted')) fail('not submitted');
  if (await rita.locator('#vote').count()) fail('the author is offered a vote on her own request');
  await check(rita, 'request-submitted');

  // cara: the queue, the table with its marked cells, a blind vote.
  const cara = await onboard(browser, CARA_LINK, 'cara');
  await cara.goto(HAVEN_URL + '/egress');
  await check(cara, 'checker-queue');
  await cara.click('#to-review a');
  await cara.waitForURL('**/egress/requests/*');
  await check(cara, 'checker-request');
  await narrow(cara, 'checker-request');
  await cara.click('a:has-text("counts.csv")');
  await cara.waitForURL('**/files/counts.csv');
  const marked = await cara.locator('td.cell-fail').count();
  if (marked < 1) fail('the small count is not marked in the table');
  await check(cara, 'checker-table');
  await narrow(cara, 'checker-table');
  await cara.goto(requestUrl);
  // The table fails: the checker overrides it with a reason, then approves.
  const overrideForm = cara.locator('form[action$="/override"]').first();
  await cara.locator('summary:has-text("Override the verdict")').first().click();
  await overrideForm.locator('select[name=verdict]').selectOption('review');
  await overrideForm.locator('textarea[name=reason]').fill('The 7 counts sites, not patients; agreed with the author');
  await Promise.all([cara.waitForURL('**done=saved'), overrideForm.locator('button').click()]);
  await cara.check('input[value=approve]');
  await cara.click('#vote');
  await cara.waitForURL('**done=saved');
  await check(cara, 'checker-voted');

  // carl does not see cara's vote until he has voted.
  const carl = await onboard(browser, CARL_LINK, 'carl');
  await carl.goto(requestUrl);
  if (await carl.locator('#votes').count()) fail("carl sees cara's vote before voting");
  await carl.check('input[value=approve]');
  await carl.click('#vote');
  await carl.waitForURL('**done=saved');
  const votes = await carl.textContent('#votes');
  if (!votes.includes('cara') || !votes.includes('carl')) fail(`votes not shown after both voted: ${votes}`);
  await check(carl, 'second-vote');

  // The IAO approves for the identifiable asset; cara releases.
  await owen.goto(requestUrl);
  await owen.click('#iao-approve');
  await owen.waitForURL('**done=saved');
  await cara.goto(requestUrl);
  await cara.click('#release');
  await cara.waitForURL('**done=saved');
  if (!(await cara.textContent('#request-state')).includes('released')) fail('not released');
  await check(cara, 'released');

  // rita downloads the zip through a single-use link.
  await rita.goto(requestUrl);
  await rita.click('#make-link');
  await rita.locator('#download-link').waitFor();
  await check(rita, 'download-link');
  await narrow(rita, 'download-link');
  const [download] = await Promise.all([rita.waitForEvent('download'), rita.click('#download-link')]);
  const saved = join(DATA_DIR, 'release.zip');
  await download.saveAs(saved);
  if (await download.failure()) fail(`the download failed: ${await download.failure()}`);
  // The same link again is refused.
  const again = await rita.request.get(HAVEN_URL + (await rita.getAttribute('#download-link', 'href')));
  if (again.status() !== 400) fail(`a used link answered ${again.status()}`);
  console.log('E2E OK', saved);
} finally {
  await browser.close();
}
