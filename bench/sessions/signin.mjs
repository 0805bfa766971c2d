// Part of bench/sessions/run.sh: signs the member in (onboarding, soft token, the AUS) in
// headless Chromium, times "Launch" to a usable terminal for each application named in APPS
// (ROUNDS times each, each session stopped after), and writes the signed-in cookies for rtt.py.
import { writeFileSync } from 'node:fs';
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
  const cookies = await page.context().cookies();
  writeFileSync(COOKIES, cookies.map((c) => `${c.name}=${c.value}`).join('; '));
  console.log(JSON.stringify(times));
} finally {
  await browser.close();
}
