// Browser test of the delivery monitor (/console/delivery) in headless Chromium, against a
// real `zhiying serve` with the dispatcher and the trigger worker running.
//
// The data dir holds a triggers.toml with one rule (salary credited → e-mail). Through the
// API: an e-mail offer, marketing consent for C00000001 (not for C00000002), then a salary
// credit for each. The dispatcher writes C00000001's message to
// DATA_DIR/outbound/email/email.jsonl; the page shows the sent count, the throughput chart,
// the rule from the file, and both firings — one queued, one stopped by consent.
//
// Environment: ZHIYING_BIN, CHROMIUM_PATH as for console.test.mjs.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  addUser, apiClient, assertBinary, cleanup, createToken, launchBrowser, makeWorkDir, signedInPage, startServer,
} from "./helpers.mjs";

const { workDir, dataDir } = makeWorkDir("dlv");
let server = null;
let baseUrl = null;
let browser = null;
let password = null;
const tokens = {};

function api(who, method, url, body) {
  return apiClient(baseUrl, tokens[who])(method, url, body);
}

before(async () => {
  assertBinary();
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(path.join(dataDir, "triggers.toml"), [
    "[[rule]]",
    'id = "salary-email"',
    'name_zh = "工资到账邮件"',
    'name_en = "Salary e-mail"',
    'channel = "email"',
    'when = { kind = "salary_credited" }',
    "",
  ].join("\n"));
  for (const [user, role] of [["ops", "admin"], ["feed", "channel_system"], ["officer", "compliance_officer"]]) {
    const pw = await addUser(dataDir, user, role);
    if (user === "ops") password = pw;
    tokens[user] = await createToken(dataDir, user);
  }
  server = await startServer(dataDir);
  baseUrl = server.url;
  browser = await launchBrowser();
});

after(() => cleanup({ browser, server, workDir }));

test("a salary credit is decided, delivered and shown on the delivery monitor", async () => {
  let r = await api("ops", "POST", "/v1/offers", {
    offer: {
      id: "E2E-T1", product_id: "P900", name_zh: "理财体验金", name_en: "Wealth trial",
      category: "deposit", risk_level: "R1", value_fen: 5000, cost_fen: 10, valid_from: "2024-01-01",
      treatments: [{ channel: "email", template_zh: "{name_masked}您好，工资到账，试试理财体验金", template_en: "Dear {name_masked}, your salary is in: try our wealth trial" }],
    },
    note: "e2e",
  });
  assert.equal(r.status, 201, r.text);
  r = await api("officer", "POST", "/v1/customers/C00000001/consents", { purpose: "marketing", channel: "all", action: "grant", source: "app", evidence: "form-E2E-1" });
  assert.equal(r.status, 201, r.text);
  r = await api("ops", "GET", "/v1/triggers/rules");
  assert.deepEqual(r.json.rules.map((x) => [x.id, x.channel, x.updated_by]), [["salary-email", "email", "file:triggers.toml"]]);

  const now = new Date().toISOString();
  for (const [id, customer] of [["E2E-1", "C00000001"], ["E2E-2", "C00000002"]]) {
    r = await api("feed", "POST", "/v1/events", { kind: "transaction", txn_id: id, customer_id: customer, account_id: "A1", ts: now, amount_fen: 1250000, direction: "credit", channel: "batch", txn_type: "salary" });
    assert.equal(r.status, 202, r.text);
  }
  let status = null;
  const end = Date.now() + 10_000;
  for (;;) {
    status = (await api("ops", "GET", "/v1/delivery/status")).json;
    const email = status.channels.find((c) => c.channel === "email");
    if ((email && email.sent === 1 && status.triggers.recent.length === 2) || Date.now() > end) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(status.channels.find((c) => c.channel === "email").sent, 1, JSON.stringify(status));
  const lines = fs.readFileSync(path.join(dataDir, "outbound", "email", "email.jsonl"), "utf8").trim().split("\n");
  assert.equal(lines.length, 1);
  assert.equal(JSON.parse(lines[0]).idempotency_key, "trg:salary-email:C00000001:txn:E2E-1");

  const { context, page, problems } = await signedInPage(browser, baseUrl, "ops", password, { next: "/console/delivery" });
  assert.equal(await page.locator("h1").innerText(), "Delivery monitor");
  assert.match(await page.locator('#delivery-channels tr[data-channel="email"]').innerText(), /E-mail[\s\S]*file:[\s\S]*\b1\b/);
  await page.waitForSelector("#delivery-throughput[data-rendered='1'] canvas");
  assert.match(await page.locator('#trigger-rules tr[data-rule="salary-email"]').innerText(), /Salary e-mail[\s\S]*Salary credited[\s\S]*E-mail/);
  assert.match(await page.locator('tr[data-firing="trg:salary-email:C00000001:txn:E2E-1"]').innerText(), /Message queued/);
  assert.match(await page.locator('tr[data-firing="trg:salary-email:C00000002:txn:E2E-2"]').innerText(), /No offer[\s\S]*Consent/);
  // The same page in Chinese.
  await page.goto(`${baseUrl}/console/delivery?lang=zh`);
  assert.equal(await page.locator("h1").innerText(), "触达监控");
  assert.match(await page.locator('tr[data-firing="trg:salary-email:C00000002:txn:E2E-2"]').innerText(), /无可推荐权益[\s\S]*授权同意/);
  assert.deepEqual(problems, []);
  await context.close();
});
