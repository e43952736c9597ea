// Benchmark peer: Debian's headless Chromium, driven by playwright-core, through the same
// Finesse → IdS → IdP flow; prints the token JSON like `finesse-sso login`.
// Usage: node chromium_login.mjs TOKEN_URL
import { chromium } from 'playwright-core';

const url = process.argv[2];
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  // The emulator's CA is per run; Chromium would need an NSS database to trust it.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const token = page.waitForResponse((r) => {
    const u = new URL(r.url());
    return u.pathname === '/desktop/sso/token' && r.status() === 200 &&
      (r.headers()['content-type'] || '').startsWith('application/json');
  }, { timeout: 60000 });
  page.goto(url).catch(() => {}); // the auto-submitted forms interrupt goto's own wait
  console.log(await (await token).text());
} finally {
  await browser.close();
}
