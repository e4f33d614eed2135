// End-to-end test of the console in headless Chromium (Debian's chromium + playwright-core).
//
// It builds a small bank with `zhiying demo --no-serve --json` (which prints the demo logins),
// serves it with `zhiying serve`, signs in through the login page, then opens the data page and
// a customer-360 page in Chinese and in English. It checks the translated headings, that
// ECharts drew its charts, that nothing failed in the browser console and that nothing was
// fetched from outside the server. It also checks the login page (wrong password, then
// right), the 403 page a marketer gets on the audit log, and the audit page for compliance.
// Screenshots go to a temp dir.
//
// Environment:
//   ZHIYING_BIN       the binary (default $CARGO_TARGET_DIR/debug/zhiying, else ./target/debug/zhiying)
//   CHROMIUM_PATH     the browser (default /usr/bin/chromium)
//   ZHIYING_E2E_URL   test an already running server instead (skips demo and serve); then set
//                     ZHIYING_E2E_LOGINS to the demo's `logins` JSON array
//   ZHIYING_E2E_CUSTOMERS  customers for the demo (default 2000)

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { assertBinary, cleanup, demo, launchBrowser, makeWorkDir, newPage, signIn, startServer, waitForHealth } from "./helpers.mjs";

const CUSTOMERS = process.env.ZHIYING_E2E_CUSTOMERS || "2000";

const { workDir, dataDir } = makeWorkDir("console");
const shotDir = path.join(workDir, "screenshots");
fs.mkdirSync(shotDir, { recursive: true });

let server = null;
let baseUrl = process.env.ZHIYING_E2E_URL ? process.env.ZHIYING_E2E_URL.replace(/\/$/, "") : null;
let browser = null;
/** username → password, from the demo's JSON summary. */
let logins = {};

const LANGS = {
  zh: {
    data: "数据概览",
    quality: "数据质量报告",
    customer: "客户全景视图",
    transactions: "最近 20 笔交易",
    coming: "即将推出",
    htmlLang: "zh-CN",
  },
  en: {
    data: "Data overview",
    quality: "Data-quality report",
    customer: "Customer 360",
    transactions: "Last 20 transactions",
    coming: "Coming",
    htmlLang: "en",
  },
};

before(async () => {
  if (!baseUrl) {
    assertBinary();
    logins = (await demo(dataDir, CUSTOMERS)).logins;
    server = await startServer(dataDir);
    baseUrl = server.url;
  }
  if (process.env.ZHIYING_E2E_LOGINS) {
    for (const l of JSON.parse(process.env.ZHIYING_E2E_LOGINS)) logins[l.username] = l.password;
  }
  assert.ok(logins.admin && logins.marketer && logins.compliance, "the demo must print admin, marketer and compliance logins");
  const health = await waitForHealth(baseUrl, 60 * 1000);
  assert.equal(health.status, "ok");
  browser = await launchBrowser();
});

after(async () => {
  // Keep the screenshots: only the data dir goes.
  await cleanup({ browser, server });
  fs.rmSync(dataDir, { recursive: true, force: true });
  console.log(`screenshots: ${shotDir}`);
});

/** A page that records console errors, page errors, failed requests and foreign requests,
 *  signed in as `user` (or anonymous when null). */
async function openPage(lang, user = "admin") {
  const p = await newPage(browser, baseUrl, { lang });
  if (user) await signIn(p.page, baseUrl, user, logins[user], { lang });
  return p;
}

async function assertChartsRendered(page, min) {
  await page.waitForSelector(".chart canvas", { timeout: 15_000 });
  const sizes = await page.$$eval(".chart canvas", (cs) => cs.map((c) => [c.width, c.height]));
  assert.ok(sizes.length >= min, `expected at least ${min} ECharts canvases, found ${sizes.length}`);
  for (const [w, h] of sizes) assert.ok(w > 0 && h > 0, `an ECharts canvas is empty (${w}x${h})`);
}

async function visibleText(page, selector) {
  const el = page.locator(selector).first();
  await el.waitFor({ state: "visible" });
  return (await el.innerText()).trim();
}

/** Finds a customer with data: the synthetic bank's first id through the search box, else the list's first. */
async function pickCustomer(page, lang) {
  await page.goto(`${baseUrl}/console/customers?lang=${lang}`);
  await page.fill("#q", "C00000001");
  // Wait for the search's own navigation to finish loading, so no request of it is cut short.
  await Promise.all([
    page.waitForURL((u) => u.searchParams.has("q") || /\/console\/customers\/[^/]+$/.test(u.pathname), { waitUntil: "load" }),
    page.click("form.search button[type=submit]"),
  ]);
  if (/\/console\/customers\/[^/?]+/.test(page.url())) return decodeURIComponent(page.url().split("/console/customers/")[1].split("?")[0]);
  await page.goto(`${baseUrl}/console/customers?lang=${lang}`);
  const href = await page.locator("table.customer-list a").first().getAttribute("href");
  assert.ok(href, "the customers page lists no customer");
  return decodeURIComponent(href.split("/console/customers/")[1]);
}

for (const lang of ["zh", "en"]) {
  const L = LANGS[lang];

  test(`data page in ${lang}`, { timeout: 120_000 }, async () => {
    const { context, page, problems } = await openPage(lang);
    try {
      const res = await page.goto(`${baseUrl}/console/data?lang=${lang}`);
      assert.equal(res.status(), 200);
      assert.equal(await page.getAttribute("html", "lang"), L.htmlLang);
      assert.equal(await visibleText(page, "main h1"), L.data);
      assert.ok((await page.locator("main h2", { hasText: L.quality }).count()) === 1, `no '${L.quality}' heading`);
      // Every capability without a page yet is marked (fewer as capabilities land).
      const disabled = await page.locator(".nav span.disabled").count();
      assert.ok(disabled >= 1, "no capability is marked as coming");
      assert.equal(await page.locator(".nav .badge", { hasText: L.coming }).count(), disabled, "coming capabilities not marked");
      await assertChartsRendered(page, 1);
      const rows = await page.locator("main table tbody tr").count();
      assert.ok(rows >= 10, `the tables list has ${rows} rows`);
      // The language choice sticks: the next page without ?lang stays in this language.
      await page.goto(`${baseUrl}/console/data`);
      assert.equal(await visibleText(page, "main h1"), L.data);
      await page.screenshot({ path: path.join(shotDir, `data-${lang}.png`), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test(`customer 360 page in ${lang}`, { timeout: 120_000 }, async () => {
    const { context, page, problems } = await openPage(lang);
    try {
      const id = await pickCustomer(page, lang);
      const res = await page.goto(`${baseUrl}/console/customers/${encodeURIComponent(id)}?lang=${lang}`);
      assert.equal(res.status(), 200);
      assert.ok((await visibleText(page, "main h1")).startsWith(L.customer), "customer 360 heading missing");
      assert.ok((await page.locator("main h2", { hasText: L.transactions }).count()) === 1, `no '${L.transactions}' heading`);
      await assertChartsRendered(page, 1);
      // The API answers the browser's session (cookie) and refuses anonymous callers.
      const api = await (await context.request.get(`${baseUrl}/v1/customers/${encodeURIComponent(id)}`)).json();
      assert.equal(api.customer_id, id);
      assert.equal(api.pii_masked, true);
      assert.equal((await fetch(`${baseUrl}/v1/customers/${encodeURIComponent(id)}`)).status, 401);
      await page.screenshot({ path: path.join(shotDir, `customer-${lang}.png`), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
}

test("login page: wrong password refused, right one signs in, logout signs out", { timeout: 120_000 }, async () => {
  const { context, page, problems } = await openPage("en", null);
  try {
    const res = await page.goto(`${baseUrl}/console/data?lang=en`);
    assert.ok(page.url().includes("/console/login"), `anonymous visit not sent to login: ${page.url()}`);
    assert.equal(res.status(), 200);
    assert.equal(await visibleText(page, "main h1"), "Sign in");
    await page.screenshot({ path: path.join(shotDir, "login-en.png"), fullPage: true });
    await page.fill("#username", "admin");
    await page.fill("#password", "definitely-not-the-password");
    await Promise.all([page.waitForLoadState("load"), page.click("form.login-form button[type=submit]")]);
    assert.equal(await visibleText(page, ".login-error"), "Wrong username or password.");
    await page.fill("#username", "admin");
    await page.fill("#password", logins.admin);
    await Promise.all([page.waitForURL((u) => u.pathname === "/console/data", { waitUntil: "load" }), page.click("form.login-form button[type=submit]")]);
    assert.equal(await visibleText(page, "main h1"), LANGS.en.data);
    assert.ok((await page.locator(".user-box .user").innerText()).length > 0, "signed-in user not shown");
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "zhiying_session");
    assert.ok(session && session.httpOnly && session.sameSite === "Lax", `session cookie flags: ${JSON.stringify(session)}`);
    await Promise.all([page.waitForURL((u) => u.pathname === "/console/login", { waitUntil: "load" }), page.click("form.logout button")]);
    await page.goto(`${baseUrl}/console/data`);
    assert.ok(page.url().includes("/console/login"), "still signed in after logout");
    // The failed attempt was refused with 401; nothing else may have failed.
    assert.deepEqual(problems.filter((p) => !p.includes("401")), []);
  } finally {
    await context.close();
  }
});

test("403 page: a marketer cannot open the audit log; compliance can", { timeout: 120_000 }, async () => {
  const m = await openPage("zh", "marketer");
  try {
    assert.equal(await m.page.locator('a[href="/console/audit"]').count(), 0, "marketer sees the audit link");
    const res = await m.page.goto(`${baseUrl}/console/audit?lang=zh`);
    assert.equal(res.status(), 403);
    assert.ok((await visibleText(m.page, "main h1")).includes("403"), "403 page heading");
    assert.ok((await m.page.content()).includes("audit.read"), "403 page names the missing permission");
    await m.page.screenshot({ path: path.join(shotDir, "forbidden-zh.png"), fullPage: true });
  } finally {
    await m.context.close();
  }
  const c = await openPage("zh", "compliance");
  try {
    const res = await c.page.goto(`${baseUrl}/console/audit?lang=zh`);
    assert.equal(res.status(), 200);
    assert.equal(await visibleText(c.page, "main h1"), "审计日志");
    assert.ok((await visibleText(c.page, "#audit-verification .verify-status")).includes("哈希链完整"));
    assert.ok((await c.page.locator("table.audit-list tbody tr").count()) >= 3, "the demo's user creations and logins are listed");
    await c.page.screenshot({ path: path.join(shotDir, "audit-zh.png"), fullPage: true });
    assert.deepEqual(c.problems, []);
  } finally {
    await c.context.close();
  }
});

// The demo trains the bank's models: the models page shows each with its charts.
test("models page: the churn model with its test AUC and charts, in both languages", { timeout: 120_000 }, async () => {
  for (const lang of ["zh", "en"]) {
    const { context, page, problems } = await openPage(lang, "admin");
    try {
      const res = await page.goto(`${baseUrl}/console/models?lang=${lang}`);
      assert.equal(res.status(), 200);
      assert.equal(await page.locator("#model-churn").count(), 1, "the churn model is listed");
      const auc = Number(await page.locator("#model-churn .card .value").first().innerText());
      assert.ok(auc > 0.6, `churn AUC shown as ${auc}`);
      // ROC, lift, calibration, feature importance and fairness.
      await page.waitForFunction(() => document.querySelectorAll("#model-churn [data-chart] canvas").length >= 5);
      await page.screenshot({ path: path.join(shotDir, `models-${lang}.png`), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  }
});

// The decision explorer accounts for every offer of the catalogue: ranked, or removed
// with a policy and a reason.
test("decision explorer: ranked offers, and a reason for every removed offer", { timeout: 120_000 }, async () => {
  const { context, page, problems } = await openPage("en", "marketer");
  try {
    const res = await page.goto(`${baseUrl}/console/decisions?customer=C00000001&channel=app_push&lang=en`);
    assert.equal(res.status(), 200);
    await page.locator("#decision").waitFor();
    const chosen = await page.locator("#decision tbody tr").count();
    const removed = await page.locator("#removed tbody tr").count();
    assert.ok(chosen + removed >= 5, `offers accounted for: ${chosen} ranked, ${removed} removed`);
    for (const cell of await page.locator("#removed tbody tr td:nth-child(3)").allInnerTexts()) {
      assert.ok(cell.trim().length > 0, "every removal has a reason");
    }
    await page.screenshot({ path: path.join(shotDir, "decisions-en.png"), fullPage: true });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

// The demo segments the customers: the cluster profiles page shows the heatmap, and a cluster
// opens in the audience builder with its live count.
test("segments page: cluster profiles with charts, and a cluster opens as an audience", { timeout: 120_000 }, async () => {
  const { context, page, problems } = await openPage("en", "marketer");
  try {
    const res = await page.goto(`${baseUrl}/console/segments?lang=en`);
    assert.equal(res.status(), 200);
    const rows = await page.locator("#clusters tbody tr").count();
    assert.ok(rows >= 2, `clusters listed: ${rows}`);
    await page.waitForFunction(() => document.querySelectorAll("[data-chart] canvas").length >= 2);
    await page.screenshot({ path: path.join(shotDir, "segments-en.png"), fullPage: true });
    await Promise.all([page.waitForURL(/\/console\/audiences/), page.locator("#clusters tbody tr a").first().click()]);
    assert.equal(await page.locator("#aud-expr").inputValue(), 'segment = "c1"');
    await page.waitForFunction(() => /\d/.test(document.getElementById("aud-count").textContent));
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
