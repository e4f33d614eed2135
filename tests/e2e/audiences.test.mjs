// Browser test of the audience builder (/console/audiences) in headless Chromium.
//
// It writes the synthetic tag fixture (`zhiying audience fixture`, the tag engine's output
// format), serves it, then types expressions into the builder: a valid one must show a
// count equal to the API's, an invalid one an error with the position and a caret. It also
// saves two audiences and draws their overlap.
//
// Environment: ZHIYING_BIN, CHROMIUM_PATH as for console.test.mjs.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  addUser, apiClient, assertBinary, cleanup, createToken, launchBrowser, makeWorkDir, run, BIN, signedInPage, startServer,
} from "./helpers.mjs";

const { workDir, dataDir } = makeWorkDir("aud");
let server = null;
let baseUrl = null;
let browser = null;
// A marketer's password (console sign-in) and API token (the count the page must match).
let password = null;
let token = null;

before(async () => {
  assertBinary();
  await run(BIN, ["audience", "fixture", "--data-dir", dataDir, "--customers", "5000"]);
  password = await addUser(dataDir, "marketer", "marketer");
  token = await createToken(dataDir, "marketer");
  assert.ok(password && token, "user add / token create print the secrets once");
  server = await startServer(dataDir);
  baseUrl = server.url;
  browser = await launchBrowser();
});

after(() => cleanup({ browser, server, workDir }));

async function apiCount(expr) {
  const r = await apiClient(baseUrl, token)("POST", "/v1/audiences/count", { expr });
  return { status: r.status, body: r.json };
}

for (const lang of ["zh", "en"]) {
  test(`audience builder (${lang}): live count, positioned error, save and overlap`, async () => {
    // The builder asks the API about invalid expressions on purpose: 4xx answers are expected.
    const { context, page, problems } = await signedInPage(browser, baseUrl, "marketer", password, { lang, next: "/console/audiences", allowHttpErrors: true });
    assert.equal(new URL(page.url()).pathname, "/console/audiences");
    await page.goto(`${baseUrl}/console/audiences?lang=${lang}`);
    assert.equal(await page.locator("h1").innerText(), lang === "zh" ? "人群圈选" : "Audiences");
    // The tag picker lists the catalogue in the page's language.
    await page.waitForSelector("#aud-tags .aud-tag");
    const pickerText = await page.locator("#aud-tags").innerText();
    assert.ok(pickerText.includes(lang === "zh" ? "资产等级" : "AUM tier"), pickerText.slice(0, 200));

    // A valid expression: the live count equals the API's.
    const expr = 'aum_tier in ("high", "private") and age >= 30';
    const want = await apiCount(expr);
    assert.equal(want.status, 200);
    assert.ok(want.body.count > 0 && want.body.count < 5000, JSON.stringify(want.body));
    await page.fill("#aud-expr", expr);
    const formatted = new Intl.NumberFormat(lang === "zh" ? "zh-CN" : "en").format(want.body.count);
    await page.waitForFunction((f) => document.getElementById("aud-count").textContent.startsWith(f), formatted, { timeout: 10_000 });
    assert.ok(await page.locator("#aud-error").isHidden());

    // An invalid one: the error names the position and shows a caret under the typo.
    await page.fill("#aud-expr", 'age >= 30 and aum_teir = "high"');
    await page.waitForSelector("#aud-error:not([hidden])", { timeout: 10_000 });
    const msg = await page.locator("#aud-error-msg").innerText();
    assert.match(msg, /1:15/);
    assert.match(msg, /aum_teir/);
    const caret = await page.locator("#aud-error-caret").innerText();
    assert.equal(caret.split("\n")[1], " ".repeat(14) + "^".repeat(8));
    assert.match(await page.locator("#aud-error-hint").innerText(), /aum_tier/);
    assert.equal(await page.locator("#aud-count").innerText(), "—");

    // Fixing it brings the count back.
    await page.fill("#aud-expr", 'age >= 30 and aum_tier = "high"');
    await page.waitForSelector("#aud-error", { state: "hidden", timeout: 10_000 });

    // Save two audiences (names unique per language), then compare them.
    for (const [name, e] of [[`fund-${lang}`, "holds_fund"], [`wealth-${lang}`, "holds_wealth"]]) {
      await page.fill("#aud-expr", e);
      await page.fill("#aud-name", name);
      await Promise.all([page.waitForEvent("load"), page.click("#aud-save button[type=submit]")]);
    }
    const rows = page.locator("#aud-saved tbody tr");
    assert.ok((await rows.count()) >= 2);
    await page.locator(`#aud-saved tr:has-text("fund-${lang}") .aud-pick`).check();
    await page.locator(`#aud-saved tr:has-text("wealth-${lang}") .aud-pick`).check();
    await page.click("#aud-overlap-btn");
    await page.waitForSelector("#aud-heatmap canvas", { timeout: 15_000 });
    await page.waitForSelector("#aud-venn canvas", { timeout: 15_000 });
    assert.deepEqual(problems, []);
    await context.close();
  });
}
