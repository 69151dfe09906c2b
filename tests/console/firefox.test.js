// The console in headless Firefox (Debian's firefox-esr driven by puppeteer-core over WebDriver
// BiDi; playwright-core drives only its own patched Firefox). A shorter walk than
// console.test.js: the live view gets the demo's entries under one traceId, a detail explains
// every attribute, the keyboard moves between tabs, an Insights query shows its table and the
// state view its tables. Run by tests/python/test_console.py; screenshots go to ARTIFACTS.
"use strict";
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const puppeteer = require("puppeteer-core");

const endpoint = process.env.IOTEMU_ENDPOINT;
const artifacts = process.env.ARTIFACTS || path.join(__dirname, "artifacts");
assert.ok(endpoint, "IOTEMU_ENDPOINT is not set");
fs.mkdirSync(artifacts, { recursive: true });

(async () => {
  const browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: process.env.FIREFOX || "/usr/bin/firefox-esr",
    headless: true,
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const shot = (name) => page.screenshot({ path: path.join(artifacts, "firefox-" + name + ".png") });
  const text = (sel) => page.$eval(sel, (el) => el.textContent);
  try {
    await page.goto(endpoint + "/");
    await page.waitForFunction(() => document.querySelector("#conn").textContent === "live");
    await page.waitForSelector('.map article[data-type="Publish-In"]');

    await page.click("#tab-map");
    const button = '.map article[data-type="Publish-In"] button[data-action="publish"]';
    await page.$eval(button, (b) => b.scrollIntoView());
    await page.click(button);
    await page.waitForFunction((sel) => document.querySelector(sel).textContent === "done ✓", { timeout: 30000 }, button);
    await page.waitForSelector('.map article.seen[data-type="Publish-In"]');
    await shot("01-map");

    // Back to Live with the keyboard.
    await page.focus("#tab-map");
    await page.keyboard.press("ArrowLeft");
    assert.equal(await page.$eval("#tab-live", (t) => t.getAttribute("aria-selected")), "true");
    await page.waitForFunction(() => [...document.querySelectorAll(".trace.highlight .story")]
      .some((s) => s.textContent === "Publish-In → Publish-Out"));
    const types = await page.evaluate(() => {
      const trace = [...document.querySelectorAll(".trace.highlight")]
        .find((t) => t.querySelector(".story").textContent === "Publish-In → Publish-Out");
      return [trace.dataset.trace, [...trace.querySelectorAll(".entry .ev")].map((e) => e.textContent)];
    });
    assert.match(types[0], /^[0-9a-f-]{36}$/);
    assert.deepEqual(types[1], ["Publish-In", "Publish-Out"]);
    await shot("02-live");

    await page.click(`.trace[data-trace="${types[0]}"] .entry`);
    await page.waitForSelector("#detail table");
    const detail = await text("#detail");
    assert.match(detail, /Publish-In/);
    assert.ok(!/not in the spec/.test(detail), detail);
    await shot("03-detail");

    await page.keyboard.press("4");
    assert.equal(await page.$eval("#tab-insights", (t) => t.getAttribute("aria-selected")), "true");
    await page.click('.sample[data-q^="stats count(*) as entries by eventType"]');
    await page.waitForSelector("#results table tbody tr");
    assert.match(await text("#results table"), /Publish-In/);
    await shot("04-insights");

    await page.click("#tab-state");
    await page.waitForSelector('#state table[aria-label="Connected clients"]');
    assert.match(await text('#state table[aria-label="Connected clients"]'), /console-state-client.*MQTT 5/s);
    assert.match(await text("#state"), /console-config/);
    await shot("05-state");
    assert.deepEqual(errors, []);
    console.log("firefox console test passed; screenshots in " + artifacts);
  } catch (e) {
    await shot("failure").catch(() => {});
    console.error(e);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
})();
