// Part of bench/sessions/run.sh: signs the member in (onboarding, soft token, the AUS) in
// headless Chromium, times "Launch" to a usable terminal for each application named in APPS
// (ROUNDS times each, each session stopped after), and writes the signed-in cookies for rtt.py.
// An application whose prompt is `@lab` is a web one: usable when JupyterLab's launcher shows.
// With JUPYTERLAB set, also times the same JupyterLab started bare (no sandbox, no Haven, on a
// loopback port) to its launcher, as the reference.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { onboard } from '../../crates/haven/tests/e2e/lib.mjs';

const { HAVEN_URL, CHROMIUM, MEMBER_LINK, COOKIES, APPS, ROUNDS } = process.env;
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
const screen = (page) => page.evaluate(() => document.querySelector('#terminal .xterm-rows')?.innerText ?? '');
const times = {};
try {
  const page = await onboard(browser, MEMBER_LINK, 'rita');
  for (const [app, prompt] of APPS.split(',').map((a) => a.split('='))) {
    times[app] = [];
    for (let i = 0; i < Number(ROUNDS); i++) {
      await page.goto(HAVEN_URL + '/apps');
      await page.selectOption('#asset', 'bench');
      await page.selectOption('#app', app);
      const started = performance.now();
      await page.click('button:has-text("Launch")');
      await page.waitForURL('**/apps/sessions/*');
      if (prompt === '@lab') {
        const session = page.url().split('?')[0];
        await page.locator('.jp-LauncherCard').first().waitFor({ timeout: 60000 });
        times[app].push(performance.now() - started);
        await page.goto(session);
        await page.click('button:has-text("Stop this session")');
        await page.waitForURL('**/apps?done=session_stopped');
        continue;
      }
      for (const until = performance.now() + 30000; ; ) {
        if ((await screen(page)).includes(prompt)) break;
        if (performance.now() > until) throw new Error(`${app} showed no ${prompt}: ${await screen(page)} (${page.url()})`);
        await page.waitForTimeout(5);
      }
      times[app].push(performance.now() - started);
      await page.click('button:has-text("Stop this session")');
      await page.waitForURL('**/apps?done=session_stopped');
    }
  }
  if (process.env.JUPYTERLAB) {
    times['jupyterlab-bare'] = [];
    for (let i = 0; i < Number(ROUNDS); i++) {
      const port = 20000 + Math.floor(Math.random() * 20000);
      const home = mkdtempSync(join(tmpdir(), 'lab-'));
      const started = performance.now();
      const lab = spawn(process.env.JUPYTERLAB, [`--ServerApp.port=${port}`, '--IdentityProvider.token=',
        '--no-browser', '--allow-root', `--ServerApp.root_dir=${home}`], { env: { ...process.env, HOME: home }, stdio: 'ignore' });
      const bare = await browser.newPage();
      for (const until = performance.now() + 60000; ; ) {
        try { await bare.goto(`http://127.0.0.1:${port}/lab`); break; } catch (e) {
          if (performance.now() > until) throw e;
          await bare.waitForTimeout(20);
        }
      }
      await bare.locator('.jp-LauncherCard').first().waitFor({ timeout: 60000 });
      times['jupyterlab-bare'].push(performance.now() - started);
      await bare.close();
      lab.kill('SIGKILL');
    }
  }
  const cookies = await page.context().cookies();
  writeFileSync(COOKIES, cookies.map((c) => `${c.name}=${c.value}`).join('; '));
  console.log(JSON.stringify(times));
} finally {
  await browser.close();
}
