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

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "zhiying-e2e-aud-"));
const dataDir = path.join(workDir, "data");
let server = null;
let serverLog = "";
let baseUrl = null;
let browser = null;
// A marketer's password (console sign-in) and API token (the count the page must match).
let password = null;
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
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")} failed (${code}):\n${out}`))));
  });
}

before(async () => {
  assert.ok(fs.existsSync(BIN), `no zhiying binary at ${BIN}`);
  await run(BIN, ["audience", "fixture", "--data-dir", dataDir, "--customers", "5000"]);
  password = JSON.parse(await run(BIN, ["user", "add", "--data-dir", dataDir, "--username", "marketer", "--role", "marketer", "--json"])).password;
  token = JSON.parse(await run(BIN, ["token", "create", "--data-dir", dataDir, "--user", "marketer", "--scope", "*", "--json"])).token;
  assert.ok(password && token, "user add / token create print the secrets once");
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

async function apiCount(expr) {
  const r = await fetch(`${baseUrl}/v1/audiences/count`, { method: "POST", headers: { "Content-Type": "application/json", "Authorization": `Bearer ${token}` }, body: JSON.stringify({ expr }) });
  return { status: r.status, body: await r.json() };
}

for (const lang of ["zh", "en"]) {
  test(`audience builder (${lang}): live count, positioned error, save and overlap`, async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(e.message));
    page.on("console", (m) => { if (m.type() === "error" && !/status of 4\d\d/.test(m.text())) problems.push(m.text()); });
    await page.goto(`${baseUrl}/console/login?lang=${lang}&next=${encodeURIComponent("/console/audiences")}`);
    await page.fill("#username", "marketer");
    await page.fill("#password", password);
    await Promise.all([page.waitForURL((u) => u.pathname === "/console/audiences", { waitUntil: "load" }), page.click("form.login-form button[type=submit]")]);
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
