// Opens the console page in headless Chromium and keeps it open (streaming the live entries)
// until killed: scripts/bench.sh --console measures the broker with the page open.
"use strict";
const { chromium } = require("playwright-core");

const url = process.argv[2];
if (!url) { console.error("usage: node hold-page.js http://127.0.0.1:<api port>/"); process.exit(2); }
(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForFunction(() => document.querySelector("#conn").textContent === "live");
  console.error("hold-page: the console is open and streaming");
  const stop = async () => { await browser.close(); process.exit(0); };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  setInterval(() => {}, 1 << 30);
})().catch((e) => { console.error(e); process.exit(1); });
