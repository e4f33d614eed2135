// Browser test of measurement in the console: the experiments list (/console/experiments)
// and a campaign report (/console/campaigns/{id}/report) in headless Chromium, in Chinese
// and in English. It builds a small bank with `zhiying demo --no-serve --json` (four
// historical campaigns with holdouts and one A/B test), serves it, signs in as the demo's
// marketer, and checks that the numbers on the pages are the API's, that ECharts drew every
// chart (a non-empty canvas per chart), and that the browser logged no error.
//
// Environment: ZHIYING_BIN, CHROMIUM_PATH as for console.test.mjs;
//   ZHIYING_E2E_REPORT_CUSTOMERS  customers for the demo (default 3000)

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
const CUSTOMERS = process.env.ZHIYING_E2E_REPORT_CUSTOMERS || "3000";

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "zhiying-e2e-rpt-"));
const dataDir = path.join(workDir, "data");
let server = null;
let serverLog = "";
let baseUrl = null;
let browser = null;
let logins = {};
let token = null;

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

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let stdout = "";
    child.stdout.on("data", (d) => { out += d; stdout += d; });
    child.stderr.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${cmd} ${args.join(" ")} failed (${code}):\n${out.slice(-4000)}`))));
  });
}

before(async () => {
  assert.ok(fs.existsSync(BIN), `no zhiying binary at ${BIN}`);
  const summary = JSON.parse(await run(BIN, ["demo", "--customers", CUSTOMERS, "--data-dir", dataDir, "--no-serve", "--json"]));
  for (const l of summary.logins) logins[l.username] = l.password;
  assert.ok(logins.marketer, "the demo prints a marketer login");
  token = JSON.parse(await run(BIN, ["token", "create", "--data-dir", dataDir, "--user", "marketer", "--scope", "*", "--json"])).token;
  const port = await freePort();
  server = spawn(BIN, ["serve", "--data-dir", dataDir, "--port", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
  server.stdout.on("data", (d) => (serverLog += d));
  server.stderr.on("data", (d) => (serverLog += d));
  baseUrl = `http://127.0.0.1:${port}`;
  const end = Date.now() + 60_000;
  for (;;) {
    try {
      const r = await fetch(`${baseUrl}/healthz`);
      if (r.ok) break;
    } catch (_) {}
    if (Date.now() > end) throw new Error(`server not healthy:\n${serverLog}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"] });
});

after(async () => {
  if (browser) await browser.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once("exit", r));
    server.kill("SIGTERM");
    await exited;
  }
  fs.rmSync(workDir, { recursive: true, force: true });
});

async function api(p) {
  const r = await fetch(`${baseUrl}${p}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200, `${p}: ${r.status}`);
  return r.json();
}

async function signIn(lang) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, locale: lang === "zh" ? "zh-CN" : "en-US" });
  const page = await context.newPage();
  const problems = [];
  const origin = new URL(baseUrl).origin;
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console error: ${m.text()}`); });
  page.on("request", (req) => {
    const url = req.url();
    if (!url.startsWith(origin) && !url.startsWith("data:")) problems.push(`request outside the server: ${url}`);
  });
  await page.goto(`${baseUrl}/console/login?lang=${lang}&next=${encodeURIComponent("/console/experiments")}`);
  await page.fill("#username", "marketer");
  await page.fill("#password", logins.marketer);
  await Promise.all([page.waitForURL((u) => u.pathname === "/console/experiments", { waitUntil: "load" }), page.click("form.login-form button[type=submit]")]);
  return { context, page, problems };
}

/** Every [data-chart] element holds a drawn, non-empty ECharts canvas. */
async function assertChartsDrawn(page, min) {
  await page.waitForFunction((n) => document.querySelectorAll("[data-chart] canvas").length >= n, min, { timeout: 15_000 });
  const charts = await page.$$eval("[data-chart]", (els) => els.map((el) => {
    const c = el.querySelector("canvas");
    return [el.getAttribute("data-chart"), c ? c.width : 0, c ? c.height : 0];
  }));
  assert.ok(charts.length >= min, `expected ${min} charts, found ${charts.length}`);
  for (const [name, w, h] of charts) assert.ok(w > 0 && h > 0, `chart ${name} has no drawn canvas (${w}x${h})`);
}

const L = {
  zh: { list: "实验列表", report: "营销活动报告", effect: "相对留存对照组的效果", qini: "Qini 曲线" },
  en: { list: "Experiments", report: "Campaign report", effect: "Effect against the holdout", qini: "Qini curve" },
};

test("experiments list and campaign report render with their charts in zh and en", async () => {
  const list = await api("/v1/experiments");
  // The synthetic bank's four campaigns (the demo also imports the UCI bank-marketing one).
  const campaigns = list.experiments.filter((e) => e.kind === "campaign" && /^CP00[1-4]$/.test(e.id));
  assert.deepEqual(campaigns.map((c) => c.id).sort(), ["CP001", "CP002", "CP003", "CP004"]);
  assert.ok(list.experiments.some((e) => e.id === "EXP001"), "the A/B test is listed");
  // The campaign whose report has an uplift model (the largest has enough conversions).
  const reports = {};
  for (const c of campaigns) reports[c.id] = await api(`/v1/campaigns/${c.id}/report`);
  const withModel = campaigns.map((c) => c.id).filter((id) => reports[id].uplift.status === "ok");
  assert.ok(withModel.length >= 1, `no campaign report has an uplift model: ${JSON.stringify(Object.values(reports).map((r) => r.uplift.note))}`);
  const id = withModel[0];
  const r = reports[id];

  for (const lang of ["zh", "en"]) {
    const { context, page, problems } = await signIn(lang);
    // The list.
    await page.goto(`${baseUrl}/console/experiments?lang=${lang}`);
    assert.equal(await page.locator("h1").innerText(), L[lang].list);
    for (const c of campaigns) {
      const row = page.locator(`tr[data-experiment="${c.id}"]`);
      assert.equal(await row.count(), 1, `${c.id} row`);
      assert.equal(await row.locator(`a[href="/console/campaigns/${c.id}/report"]`).count(), 1);
      const flagged = await row.locator('[data-flag="underpowered"]').count();
      assert.equal(flagged > 0, c.power.some((p) => p.underpowered), `${c.id}: under-powered flag`);
      const srmFlag = await row.locator('[data-flag="srm"]').count();
      assert.equal(srmFlag > 0, Boolean(c.srm && c.srm.mismatch), `${c.id}: SRM flag`);
    }
    await assertChartsDrawn(page, 1);

    // Follow the link to the report.
    await Promise.all([
      page.waitForURL((u) => u.pathname === `/console/campaigns/${id}/report`, { waitUntil: "load" }),
      page.locator(`tr[data-experiment="${id}"] a[href="/console/campaigns/${id}/report"]`).click(),
    ]);
    assert.match(await page.locator("h1").innerText(), new RegExp(L[lang].report));
    assert.match(await page.locator("#effect h2").innerText(), new RegExp(L[lang].effect));
    assert.equal((await page.locator("#verdict").innerText()).trim(), lang === "zh" ? r.effect.verdict_zh : r.effect.verdict_en);
    assert.match(await page.locator("#qini h2").innerText(), new RegExp(L[lang].qini));
    const customers = Number((await page.locator("#kpis .card .value").first().innerText()).replace(/,/g, ""));
    assert.equal(customers, r.kpis.customers);
    await assertChartsDrawn(page, 3);
    for (const chart of ["report-daily", "report-effect", "report-qini"]) {
      assert.equal(await page.locator(`[data-chart="${chart}"] canvas`).count() >= 1, true, `${chart} drawn`);
    }
    await page.screenshot({ path: path.join(workDir, `report-${lang}.png`), fullPage: true });
    assert.deepEqual(problems, [], `${lang}: browser problems`);
    await context.close();
  }
});
