// Browser test of the iotemu console in headless Chromium (playwright-core driving Debian's
// /usr/bin/chromium). Run by tests/python/test_console.py with IOTEMU_ENDPOINT set to a fresh
// emulator's API address; screenshots of every step go to ARTIFACTS (git-ignored).
"use strict";
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { chromium } = require("playwright-core");

const endpoint = process.env.IOTEMU_ENDPOINT;
const artifacts = process.env.ARTIFACTS || path.join(__dirname, "artifacts");
assert.ok(endpoint, "IOTEMU_ENDPOINT is not set");
fs.mkdirSync(artifacts, { recursive: true });

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const shot = (name) => page.screenshot({ path: path.join(artifacts, name + ".png"), fullPage: false });
  try {
    await page.goto(endpoint + "/");
    await page.waitForFunction(() => document.querySelector("#conn").textContent === "live");
    await page.waitForSelector('.map article[data-type="Publish-In"]', { state: "attached" });
    await shot("01-open");

    // The map: make a Publish-In, a shadow update and a policy denial happen.
    await page.click("#tab-map");
    for (const [type, action] of [["Publish-In", "publish"], ["UpdateThingShadow", "shadow"], ["Publish-In", "denied"]]) {
      const button = page.locator(`.map article[data-type="${type}"] button[data-action="${action}"]`).first();
      await button.scrollIntoViewIfNeeded();
      await button.click();
      await page.waitForFunction((el) => el.textContent === "done ✓", await button.elementHandle(), { timeout: 30000 });
    }
    await page.locator('.map article[data-type="Publish-In"]').first().scrollIntoViewIfNeeded();
    await page.waitForSelector('.map article.seen[data-type="Publish-In"]');
    await shot("02-map-after-demo");

    // The live view: each story under one traceId.
    await page.click("#tab-live");
    const trace = (story, text) => page.locator(".trace.highlight", { hasText: text }).filter({ has: page.locator(".story", { hasText: story }) });
    await trace("Publish-In → Publish-Out", "iotemu-demo/hello").first().waitFor();
    await trace("UpdateThingShadow", "shadow/update").first().waitFor();
    await trace("Publish-In", "iotemu-demo/denied").first().waitFor();
    const hello = trace("Publish-In → Publish-Out", "iotemu-demo/hello").first();
    const traceId = await hello.getAttribute("data-trace");
    assert.match(traceId, /^[0-9a-f-]{36}$/);
    const types = await hello.locator(".entry .ev").allTextContents();
    assert.deepEqual(types, ["Publish-In", "Publish-Out"]);
    const shadow = await trace("UpdateThingShadow", "shadow/update").first().locator(".entry .ev").allTextContents();
    assert.deepEqual(shadow, ["Publish-In", "UpdateThingShadow", "Publish-Out"]);
    await shot("03-live-timeline");

    // Filters: failures only, then by client id and event type.
    await page.selectOption("#f-status", "Failure");
    await page.waitForFunction(() => [...document.querySelectorAll(".entry")].length > 0 &&
      [...document.querySelectorAll(".entry span:nth-child(4)")].every((s) => s.textContent === "Failure"));
    const failures = await page.locator(".entry .ev").allTextContents();
    assert.ok(failures.includes("Publish-In"), failures.join());
    await shot("04-filter-failures");
    await page.selectOption("#f-status", "");
    await page.fill("#f-thing", "iotemu-demo-thing");
    await page.selectOption("#f-type", "UpdateThingShadow");
    await page.waitForFunction(() => {
      const evs = [...document.querySelectorAll(".entry .ev")].map((e) => e.textContent);
      return evs.length === 1 && evs[0] === "UpdateThingShadow";
    });
    await shot("04b-filter-thing-and-type");
    await page.selectOption("#f-type", "");
    await page.fill("#f-thing", "");
    await page.fill("#f-client", "iotemu-demo-device");
    await page.waitForFunction(() => [...document.querySelectorAll(".entry .topic")].every((t) => t.textContent.startsWith("iotemu-demo-device")));
    await page.fill("#f-client", "");

    // Detail of the denied Publish-In: every attribute explained.
    await page.fill("#f-text", "iotemu-demo/denied");
    const denied = page.locator(".entry", { hasText: "Failure" }).first();
    await denied.click();
    await page.waitForSelector("#detail table");
    const detail = await page.locator("#detail").textContent();
    assert.match(detail, /AUTHORIZATION_FAILURE/);
    assert.match(detail, /Publish-In/);
    assert.ok(!/not in the spec/.test(detail), "an attribute of the entry is not explained: " + detail);
    await shot("05-detail");
    await page.keyboard.press("Escape");
    await page.fill("#f-text", "");

    // Insights: a table, then a chart for stats by bin().
    await page.click("#tab-insights");
    await page.fill("#query", "stats count(*) as entries by eventType | sort entries desc");
    await page.click("#run-query");
    await page.waitForSelector("#results table tbody tr");
    const table = await page.locator("#results table").textContent();
    assert.match(table, /Publish-In/);
    assert.match(table, /UpdateThingShadow/);
    await shot("06-insights-table");
    await page.click('.sample[data-q^="stats count(*) by bin"]');
    await page.waitForSelector("#chart svg rect");
    await shot("07-insights-chart");

    // State at a glance: the demo's thing with its reported shadow.
    await page.click("#tab-state");
    await page.waitForSelector("#state table");
    const stateText = await page.locator("#state").textContent();
    assert.match(stateText, /iotemu-demo-thing/);
    assert.match(stateText, /"temperature":21/);
    await shot("07b-state");

    // State at a glance, made by tests/python/test_console.py with boto3 and paho: the
    // connected MQTT 5 client, the named shadow, the rule's recent match, the job's execution.
    await page.click("#refresh-state");
    const client = page.locator('#state table[aria-label="Connected clients"] tr', { hasText: "console-state-client" });
    await client.waitFor();
    assert.match(await client.textContent(), /MQTT 5/);
    assert.match(await client.textContent(), /anonymous/);
    const named = page.locator('#state tr[data-thing="console-state-thing"][data-shadow="console-config"]');
    await named.waitFor();
    assert.match(await named.textContent(), /"mode":"eco"/);
    assert.match(await named.textContent(), /"mode":"boost"/);
    const rule = page.locator('#state tr[data-rule="console_state_rule"]');
    assert.match(await rule.textContent(), /1 recent match; last .* on console\/state\/temperature by console-state-client/);
    assert.match(await rule.textContent(), /Success/);
    const job = page.locator('#state tr[data-job="console-state-job"]');
    assert.match(await job.textContent(), /console-state-thing QUEUED/);
    await shot("09-state");
    await page.emulateMedia({ colorScheme: "dark" });
    await shot("10-state-dark");
    await page.emulateMedia({ colorScheme: "light" });

    // Dark mode and the keyboard: tabs move with the arrow keys.
    await page.emulateMedia({ colorScheme: "dark" });
    await page.focus("#tab-insights");
    await page.keyboard.press("ArrowLeft");
    assert.equal(await page.getAttribute("#tab-state", "aria-selected"), "true");
    await page.keyboard.press("ArrowLeft");
    await page.keyboard.press("ArrowLeft");
    assert.equal(await page.getAttribute("#tab-live", "aria-selected"), "true");
    await shot("08-live-dark");
    // Digits choose a tab; "/" focuses the text filter; Enter on an entry opens its detail.
    await page.keyboard.press("3");
    assert.equal(await page.getAttribute("#tab-state", "aria-selected"), "true");
    await page.keyboard.press("/");
    assert.equal(await page.getAttribute("#tab-live", "aria-selected"), "true");
    assert.equal(await page.evaluate(() => document.activeElement.id), "f-text");
    await page.keyboard.type("iotemu-demo/hello");
    await page.waitForFunction(() => document.querySelectorAll(".entry").length === 2);
    await page.focus(".entry");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#detail table");
    assert.equal(await page.evaluate(() => document.activeElement.id), "detail");
    assert.match(await page.locator("#detail h2").textContent(), /Publish-In/);
    await page.keyboard.press("Escape");
    await page.waitForSelector("#detail table", { state: "detached" });
    assert.deepEqual(errors, []);
    console.log("console test passed; screenshots in " + artifacts);
  } catch (e) {
    await shot("failure").catch(() => {});
    console.error(e);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
})();
