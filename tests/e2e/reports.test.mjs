// Browser test of measurement in the console: the experiments list (/console/experiments)
// and a campaign report (/console/campaigns/{id}/report) in headless Chromium, in Chinese
// and in English. It builds a small bank with `zhiying demo --no-serve --json` (four
// historical campaigns with holdouts and one A/B test), serves it, signs in as the demo's
// marketer, and checks that the numbers on the pages are the API's, that ECharts drew every
// chart (a non-empty canvas per chart), and that the browser logged no error. The demo's own
// campaign and its follow-up give customers multi-channel contact paths: its report's
// attribution section must show every model's credit per channel as the API has it.
//
// Environment: ZHIYING_BIN, CHROMIUM_PATH as for console.test.mjs;
//   ZHIYING_E2E_REPORT_CUSTOMERS  customers for the demo (default 3000)

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import {
  assertBinary, assertChartsDrawn, cleanup, createToken, demo, launchBrowser, makeWorkDir, signedInPage, startServer,
} from "./helpers.mjs";

const CUSTOMERS = process.env.ZHIYING_E2E_REPORT_CUSTOMERS || "3000";

const { workDir, dataDir } = makeWorkDir("rpt");
let server = null;
let baseUrl = null;
let browser = null;
let logins = {};
let token = null;
let demoCampaign = null;

before(async () => {
  assertBinary();
  const d = await demo(dataDir, CUSTOMERS);
  logins = d.logins;
  demoCampaign = d.summary.demo_campaign;
  assert.ok(logins.marketer, "the demo prints a marketer login");
  token = await createToken(dataDir, "marketer");
  server = await startServer(dataDir);
  baseUrl = server.url;
  browser = await launchBrowser();
});

after(() => cleanup({ browser, server, workDir }));

async function api(p) {
  const r = await fetch(`${baseUrl}${p}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200, `${p}: ${r.status}`);
  return r.json();
}

/** The campaign report once its uplift model is no longer being trained in the background. */
async function report(id) {
  const end = Date.now() + 120_000;
  for (;;) {
    const r = await api(`/v1/campaigns/${encodeURIComponent(id)}/report`);
    if (r.uplift.status !== "computing") return r;
    assert.ok(Date.now() < end, `the uplift model of ${id} is still being trained`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

function signIn(lang) {
  return signedInPage(browser, baseUrl, "marketer", logins.marketer, { lang, next: "/console/experiments" });
}

const L = {
  zh: { list: "实验列表", report: "营销活动报告", effect: "相对留存对照组的效果", qini: "Qini 曲线", attribution: "渠道归因", markov: "马尔可夫（移除效应）" },
  en: { list: "Experiments", report: "Campaign report", effect: "Effect against the holdout", qini: "Qini curve", attribution: "Attribution by channel", markov: "Markov (removal effect)" },
};

test("experiments list and campaign report render with their charts in zh and en", async () => {
  const list = await api("/v1/experiments");
  // The synthetic bank's four campaigns (the demo also imports the UCI bank-marketing one).
  const campaigns = list.experiments.filter((e) => e.kind === "campaign" && /^CP00[1-4]$/.test(e.id));
  assert.deepEqual(campaigns.map((c) => c.id).sort(), ["CP001", "CP002", "CP003", "CP004"]);
  assert.ok(list.experiments.some((e) => e.id === "EXP001"), "the A/B test is listed");
  // The campaign whose report has an uplift model (the largest has enough conversions).
  const reports = {};
  for (const c of campaigns) reports[c.id] = await report(c.id);
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

test("the demo campaign's report attributes its conversions to channels, with the API's numbers, in zh and en", async () => {
  const id = demoCampaign.campaign_id;
  // Its responses were simulated by the demo, which trained the uplift model then: the
  // first view does not wait for it.
  const first = await api(`/v1/campaigns/${encodeURIComponent(id)}/report`);
  assert.notEqual(first.uplift.status, "computing", "the demo trains the report's uplift model");
  const a = first.attribution;
  assert.equal(a.status, "ok", a.note);
  assert.equal(a.single_touch, false, "the follow-up campaign gives customers multi-channel paths");
  assert.ok(a.report.channels.length >= 2, JSON.stringify(a.channels));
  assert.ok(a.report.total_conversions > 0);
  const models = ["last_touch", "first_touch", "linear", "time_decay", "markov", "shapley"];
  assert.deepEqual(a.report.models, models);
  for (const m of models) {
    const sum = a.report.channels.reduce((s, c) => s + c.credits.find((x) => x.model === m).conversions, 0);
    assert.ok(Math.abs(sum - a.report.total_conversions) < 1e-6, `${m} hands out ${sum} of ${a.report.total_conversions}`);
  }
  // The follow-up's own report: the first campaign's touches come first on its paths.
  const follow = (await report(demoCampaign.follow_up.campaign_id)).attribution;
  assert.equal(follow.status, "ok", follow.note);
  assert.equal(follow.single_touch, false);

  for (const lang of ["zh", "en"]) {
    const { context, page, problems } = await signIn(lang);
    await page.goto(`${baseUrl}/console/campaigns/${encodeURIComponent(id)}/report?lang=${lang}`);
    assert.equal(await page.locator("#attribution h2").innerText(), L[lang].attribution);
    assert.match(await page.locator("#attribution-table thead").innerText(), new RegExp(L[lang].markov.replace(/[()（）]/g, ".")));
    for (const c of a.report.channels) {
      const row = page.locator(`#attribution-table tr[data-channel="${c.channel}"]`);
      assert.equal(await row.count(), 1, `${c.channel} row`);
      for (const x of c.credits) {
        const shown = Number((await row.locator(`td[data-model="${x.model}"]`).innerText()).trim().split(/\s/)[0]);
        assert.ok(Math.abs(shown - x.conversions) <= 0.051, `${c.channel} ${x.model}: page ${shown}, API ${x.conversions}`);
      }
    }
    const unattributed = Number((await page.locator("#attribution-unattributed").innerText()).replace(/,/g, ""));
    assert.equal(unattributed, Math.round(a.report.unattributed_conversions));
    await page.waitForFunction(() => document.querySelectorAll('[data-chart="report-attribution"] canvas').length >= 1, null, { timeout: 15_000 });
    await assertChartsDrawn(page, 3);
    await page.locator("#attribution").screenshot({ path: path.join(workDir, `attribution-${lang}.png`) });
    assert.deepEqual(problems, [], `${lang}: browser problems`);
    await context.close();
  }
});
