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
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "..", "..");
const targetDir = process.env.CARGO_TARGET_DIR || path.join(repoRoot, "target");
const BIN = process.env.ZHIYING_BIN || path.join(targetDir, "debug", "zhiying");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const CUSTOMERS = process.env.ZHIYING_E2E_CUSTOMERS || "2000";

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "zhiying-e2e-"));
const dataDir = path.join(workDir, "data");
const shotDir = path.join(workDir, "screenshots");
fs.mkdirSync(shotDir, { recursive: true });

let server = null;
let serverLog = "";
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

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Runs a command to completion and resolves with its standard output; rejects with all of
 *  its output if it fails. */
function run(cmd, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let stdout = "";
    child.stdout.on("data", (d) => {
      out += d;
      stdout += d;
    });
    child.stderr.on("data", (d) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${cmd}: ${e.message}. Build it with 'cargo build --bin zhiying' or set ZHIYING_BIN.`));
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${cmd} ${args.join(" ")} failed (code ${code}, signal ${signal}):\n${out.slice(-4000)}`));
    });
  });
}

async function waitForHealth(url, deadlineMs) {
  const end = Date.now() + deadlineMs;
  let last = "";
  while (Date.now() < end) {
    if (server && server.exitCode !== null) {
      throw new Error(`zhiying serve exited with code ${server.exitCode}:\n${serverLog.slice(-4000)}`);
    }
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return await res.json();
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`server at ${url} not healthy in time (last: ${last}):\n${serverLog.slice(-4000)}`);
}

before(async () => {
  if (!baseUrl) {
    assert.ok(fs.existsSync(BIN), `no zhiying binary at ${BIN}: build it with 'cargo build --bin zhiying' or set ZHIYING_BIN`);
    const out = await run(BIN, ["demo", "--customers", CUSTOMERS, "--data-dir", dataDir, "--no-serve", "--json"], 15 * 60 * 1000);
    const summary = JSON.parse(out);
    for (const l of summary.logins) logins[l.username] = l.password;
    const port = await freePort();
    server = spawn(BIN, ["serve", "--data-dir", dataDir, "--port", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
    server.stdout.on("data", (d) => (serverLog += d));
    server.stderr.on("data", (d) => (serverLog += d));
    baseUrl = `http://127.0.0.1:${port}`;
  }
  if (process.env.ZHIYING_E2E_LOGINS) {
    for (const l of JSON.parse(process.env.ZHIYING_E2E_LOGINS)) logins[l.username] = l.password;
  }
  assert.ok(logins.admin && logins.marketer && logins.compliance, "the demo must print admin, marketer and compliance logins");
  const health = await waitForHealth(baseUrl, 60 * 1000);
  assert.equal(health.status, "ok");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once("exit", r));
    server.kill("SIGTERM");
    const timer = setTimeout(() => server.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
  console.log(`screenshots: ${shotDir}`);
});

/** Signs in through the login form; leaves the page where the login redirected. */
async function signIn(page, username, lang, next = "/console/data") {
  await page.goto(`${baseUrl}/console/login?lang=${lang}&next=${encodeURIComponent(next)}`);
  await page.fill("#username", username);
  await page.fill("#password", logins[username]);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/console/login"), { waitUntil: "load" }), page.click("form.login-form button[type=submit]")]);
}

/** A page that records console errors, page errors, failed requests and foreign requests,
 *  signed in as `user` (or anonymous when null). */
async function openPage(lang, user = "admin") {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, locale: lang === "zh" ? "zh-CN" : "en-US" });
  const page = await context.newPage();
  const problems = [];
  const origin = new URL(baseUrl).origin;
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  // ERR_ABORTED is the browser cancelling a request because the page navigated on (e.g. the
  // favicon when a form is submitted at once): not a failure of the server.
  page.on("requestfailed", (req) => {
    const why = req.failure()?.errorText ?? "";
    if (why !== "net::ERR_ABORTED") problems.push(`request failed: ${req.url()} ${why}`);
  });
  page.on("request", (req) => {
    const url = req.url();
    if (!url.startsWith(origin) && !url.startsWith("data:")) problems.push(`request outside the server: ${url}`);
  });
  if (user) await signIn(page, user, lang);
  return { context, page, problems };
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
