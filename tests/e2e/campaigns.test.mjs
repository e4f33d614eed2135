// Browser test of the offer catalogue, the campaign builder and the approval queue
// (/console/offers, /console/campaigns, /console/approvals) in headless Chromium.
//
// A marketer creates an offer through the editor, builds a campaign on the audience
// fixture and submits it; the approval queue refuses to let her approve it; a compliance
// officer signs in, sees the audience size, the expected contacts and the rendered copy,
// and approves it. The campaign's recorded moves are then checked through the API.
//
// Environment: ZHIYING_BIN, CHROMIUM_PATH as for console.test.mjs.

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

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "zhiying-e2e-cmp-"));
const dataDir = path.join(workDir, "data");
let server = null;
let serverLog = "";
let baseUrl = null;
let browser = null;
const passwords = {};
let checkerToken = null;

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
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")} failed (${code}):\n${out}`))));
  });
}

before(async () => {
  assert.ok(fs.existsSync(BIN), `no zhiying binary at ${BIN}`);
  await run(BIN, ["audience", "fixture", "--data-dir", dataDir, "--customers", "2000"]);
  for (const [user, role] of [["maker", "marketer"], ["checker", "compliance_officer"]]) {
    passwords[user] = JSON.parse(await run(BIN, ["user", "add", "--data-dir", dataDir, "--username", user, "--role", role, "--json"])).password;
  }
  checkerToken = JSON.parse(await run(BIN, ["token", "create", "--data-dir", dataDir, "--user", "checker", "--scope", "*", "--json"])).token;
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

async function signIn(user, next) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(e.message));
  page.on("console", (m) => { if (m.type() === "error" && !/status of 4\d\d/.test(m.text())) problems.push(m.text()); });
  await page.goto(`${baseUrl}/console/login?lang=en&next=${encodeURIComponent(next)}`);
  await page.fill("#username", user);
  await page.fill("#password", passwords[user]);
  await Promise.all([page.waitForURL((u) => u.pathname === next, { waitUntil: "load" }), page.click("form.login-form button[type=submit]")]);
  return { context, page, problems };
}

test("offer → campaign → submit → a second user approves", async () => {
  // The maker: a new offer through the editor.
  const m = await signIn("maker", "/console/offers");
  let page = m.page;
  await page.goto(`${baseUrl}/console/offers?lang=en`);
  assert.equal(await page.locator("h1").innerText(), "Offer catalogue");
  await page.fill("input[name=id]", "E2E1");
  await page.fill("input[name=product_id]", "P900");
  await page.fill("input[name=name_zh]", "绑卡礼");
  await page.fill("input[name=name_en]", "Card gift");
  await page.selectOption("select[name=category]", "deposit");
  await page.selectOption("select[name=risk_level]", "R2");
  await page.fill("input[name=value_yuan]", "50");
  await page.fill("input[name=cost_yuan]", "0.10");
  await page.fill("textarea[name=eligibility]", 'aum_tier in ("mass", "affluent")');
  // First a template with an unknown field: the form comes back with the error.
  await page.fill("textarea[name='app_push.template_zh']", "{nme}您好，绑卡有礼");
  await page.fill("textarea[name='app_push.template_en']", "Dear {name_masked}, a gift for linking your card");
  await Promise.all([page.waitForEvent("load"), page.click("#offer-save")]);
  assert.match(await page.locator("#offer-errors").innerText(), /\{nme\}/);
  await page.fill("textarea[name='app_push.template_zh']", "{name_masked}您好，绑卡有礼");
  await Promise.all([page.waitForEvent("load"), page.click("#offer-save")]);
  assert.match(await page.locator("#offer-saved").innerText(), /E2E1/);
  assert.match(await page.locator("#offer-list").innerText(), /E2E1[\s\S]*R2[\s\S]*v1/);

  // The campaign builder.
  await page.goto(`${baseUrl}/console/campaigns?lang=en`);
  await page.fill("input[name=name]", "E2E card gift");
  await page.fill("textarea[name=audience_expr]", 'aum_tier = "mass"');
  await page.check("input[name=offers][value=E2E1]");
  await page.check("input[name=channels][value=app_push]");
  await page.fill("input[name=budget_yuan]", "2000");
  await page.fill("input[name=holdout_pct]", "10");
  await Promise.all([page.waitForEvent("load"), page.click("#campaign-save")]);
  const created = (await page.locator("#campaign-created code").innerText()).trim();
  assert.match(created, /^cmp-[0-9a-f]{12}$/);
  const row = page.locator(`tr[data-campaign="${created}"]`);
  assert.match(await row.innerText(), /Draft/);
  await Promise.all([page.waitForEvent("load"), row.locator("button[data-move=submitted]").click()]);
  assert.match(await page.locator(`tr[data-campaign="${created}"]`).innerText(), /Submitted/);
  // A marketer has no approve button in the queue.
  await page.goto(`${baseUrl}/console/approvals?lang=en`);
  assert.equal(await page.locator(`button[data-approve="${created}"]`).count(), 0);
  assert.deepEqual(m.problems, []);
  await m.context.close();

  // The checker signs in, reviews and approves.
  const c = await signIn("checker", "/console/approvals");
  page = c.page;
  await page.goto(`${baseUrl}/console/approvals?lang=en`);
  const review = page.locator(`section[id="${created}"]`);
  const size = Number((await review.locator(".cmp-audience-size").innerText()).replace(/,/g, ""));
  const count = await (await fetch(`${baseUrl}/v1/audiences/count`, { method: "POST", headers: { "Content-Type": "application/json", "Authorization": `Bearer ${checkerToken}` }, body: JSON.stringify({ expr: 'aum_tier = "mass"' }) })).json();
  assert.equal(size, count.count);
  assert.match(await review.locator(".cmp-contacts").innerText(), /App push|app_push/i);
  assert.match(await review.locator(".cmp-content").innerText(), /张\*您好，绑卡有礼/);
  await review.locator("input[name=note]").first().fill("Looks right");
  await Promise.all([page.waitForEvent("load"), review.locator(`button[data-approve="${created}"]`).click()]);
  assert.match(await page.locator("#approval-done").innerText(), new RegExp(created));
  assert.deepEqual(c.problems, []);
  await c.context.close();

  const t = await (await fetch(`${baseUrl}/v1/campaigns/${created}/transitions`, { headers: { "Authorization": `Bearer ${checkerToken}` } })).json();
  assert.deepEqual(t.map((x) => [x.to, x.actor]), [["draft", "maker"], ["submitted", "maker"], ["approved", "checker"]]);
  assert.equal(t[2].snapshot.audience_size, count.count);
  assert.equal(t[2].snapshot.budget_fen, 200000);
});
