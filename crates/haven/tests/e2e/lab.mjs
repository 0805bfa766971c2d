// JupyterLab in a web session, in headless Chromium (playwright-core): a member launches it on
// the asset, Haven's page opens it once it answers, a Python and an R notebook each run a cell.
// Downloading, exporting and uploading are refused at Haven's door (403); another signed-in
// user gets 404 for the session's address. Haven's own pages are checked with axe-core.
import { chromium } from 'playwright-core';
import { fail, onboard, pageChecks } from './lib.mjs';

const { HAVEN_URL, CHROMIUM, DATA_DIR, MEMBER_LINK, OTHER_LINK } = process.env;
const { check } = pageChecks(DATA_DIR, 'lab');

/// Runs `code` in the open notebook's first cell and waits for `expected` in its output.
async function runCell(page, code, expected) {
  const cell = page.locator('.jp-NotebookPanel:visible .jp-Cell').first();
  await cell.locator('.cm-content').click();
  await page.keyboard.type(code);
  await page.keyboard.press('Shift+Enter');
  const output = page.locator('.jp-NotebookPanel:visible .jp-OutputArea-output', { hasText: expected });
  await output.first().waitFor({ timeout: 60000 }).catch(async () => {
    await page.screenshot({ path: `${DATA_DIR}/lab-failed.png` });
    const shown = await page.locator('.jp-NotebookPanel:visible').first().innerText().catch(() => '');
    fail(`${JSON.stringify(code)} did not print ${JSON.stringify(expected)}; the notebook shows: ${shown.slice(0, 800)}`);
  });
}

async function newNotebook(page, kernel) {
  // The launcher: the one open at the start, or a new one from the main area's "+".
  if ((await page.locator('.jp-LauncherCard').locator('visible=true').count()) === 0) {
    await page.locator('.lm-TabBar-addButton').locator('visible=true').first().click();
  }
  const card = page.locator(`.jp-LauncherCard[data-category="Notebook"][title="${kernel}"]`).locator('visible=true');
  await card.first().click({ timeout: 30000 }).catch(async () => {
    await page.screenshot({ path: `${DATA_DIR}/lab-failed.png` });
    const cards = await page.locator('.jp-LauncherCard').evaluateAll((cs) => cs.map((c) => `${c.dataset.category}:${c.title}`));
    fail(`no ${kernel} notebook in the launcher; it shows: ${cards.join(', ')}`);
  });
  await page.locator('.jp-NotebookPanel:visible .jp-Notebook').waitFor();
  // The kernel has started and answered once the status bar says so.
  await page.locator('.jp-StatusBar-Widget', { hasText: `${kernel} | Idle` }).first().waitFor({ timeout: 60000 })
    .catch(async () => fail(`the ${kernel} kernel never became idle: ${await page.locator('.jp-StatusBar-Widget').allInnerTexts()}`));
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
try {
  const page = await onboard(browser, MEMBER_LINK, 'rita');
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  await page.goto(HAVEN_URL + '/apps');
  await page.selectOption('#asset', 'heart');
  await page.selectOption('#app', 'jupyterlab@4.6');
  const started = Date.now();
  await page.click('button:has-text("Launch")');
  await page.waitForURL('**/apps/sessions/*');
  const sessionUrl = page.url().split('?')[0];
  await check(page, 'starting');
  // JupyterLab is served from the web sessions' own origin (another port), not Haven's.
  const lab = await page.getAttribute('#open-lab', 'href');
  if (new URL(lab).origin === new URL(HAVEN_URL).origin) fail(`JupyterLab is on Haven's own origin: ${lab}`);
  await page.waitForURL('**/lab/**', { timeout: 60000 }).catch(async () =>
    fail(`JupyterLab did not open: ${await page.textContent('main')}`));
  await page.locator('.jp-Launcher').first().waitFor({ timeout: 60000 }).catch(async () => {
    await page.screenshot({ path: `${DATA_DIR}/lab-failed.png` });
    fail(`JupyterLab's launcher did not show at ${page.url()}; the console said: ${problems.slice(0, 8).join(' | ')}`);
  });
  console.log(`JupyterLab usable ${Date.now() - started} ms after Launch`);

  await newNotebook(page, 'Python 3 (ipykernel)');
  await runCell(page, 'import os; print(6 * 7, os.getuid() > 2000000000, sorted(os.listdir("/drives")))', "42 True ['N', 'S', 'outputs']");
  await newNotebook(page, 'R');
  await runCell(page, 'cat(6 * 7, "from R\\n")', '42 from R');
  await page.screenshot({ path: `${DATA_DIR}/lab-notebooks.png` });

  // Files leave only by egress, and come in only by File Transfer: Haven refuses JupyterLab's
  // download, export and upload, whatever the page would do.
  const answers = await page.evaluate(async ([lab, havenUrl]) => {
    const xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || '';
    const status = async (path, init) => (await fetch(lab + path, init)).status;
    const put = (body) => ({
      method: 'PUT',
      headers: { 'Content-Type': 'application/json', 'X-XSRFToken': decodeURIComponent(xsrf) },
      body: JSON.stringify(body),
    });
    // Haven's own pages are another origin from here: a script in JupyterLab cannot read them.
    let haven;
    try {
      const r = await fetch(havenUrl + '/security', { credentials: 'include' });
      haven = `read ${r.status}`;
    } catch (e) {
      haven = 'refused';
    }
    return {
      haven,
      worker: await status('sw.js', { headers: { 'Service-Worker': 'script' } }),
      download: await status('files/N/Untitled.ipynb?download=1'),
      export: await status('nbconvert/html/N/Untitled.ipynb?download=true'),
      view: await status('view/N/Untitled.ipynb'),
      upload: await status('api/contents/N/data.csv', put({ type: 'file', format: 'base64', content: 'YSxiCjEsMgo=' })),
      chunked: await status('api/contents/N/big.csv', put({ type: 'file', format: 'text', chunk: 1, content: 'a,b' })),
      save: await status('api/contents/N/notes.txt', put({ type: 'file', format: 'text', content: 'code, not data' })),
      read: await status('api/contents/N/notes.txt'),
    };
  }, [lab, HAVEN_URL]);
  const expected = { download: 403, export: 403, view: 403, upload: 403, chunked: 403, save: 201, read: 200, worker: 403, haven: 'refused' };
  for (const [k, v] of Object.entries(expected)) {
    if (answers[k] !== v) fail(`${k}: ${answers[k]}, expected ${v} (${JSON.stringify(answers)})`);
  }

  // Another signed-in user cannot reach the session, not even its application's status.
  const other = await onboard(browser, OTHER_LINK, 'mallory');
  for (const url of [sessionUrl, lab, lab + 'api/status', lab + 'api/contents/N', sessionUrl + '/ready']) {
    const r = await other.goto(url);
    if (r.status() !== 404) fail(`another user got ${r.status()} for ${url}`);
  }

  // The member stops it from Haven's page.
  await page.goto(sessionUrl);
  await page.click('button:has-text("Stop this session")');
  await page.waitForURL('**/apps?done=session_stopped');
  const csp = problems.filter((p) => p.includes('Content Security Policy'));
  if (csp.length) console.log(`CSP reports in JupyterLab: ${csp.slice(0, 5).join(' | ')}`);
  console.log('E2E OK');
} finally {
  await browser.close();
}
