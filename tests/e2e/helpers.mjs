// What every browser test needs: the binary, a work directory, the CLI, a served data dir,
// headless Chromium, and signed-in pages that record what went wrong in the browser.
//
// Environment:
//   ZHIYING_BIN    the binary (default $CARGO_TARGET_DIR/debug/zhiying, else ./target/debug/zhiying)
//   CHROMIUM_PATH  the browser (default /usr/bin/chromium)

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
export const BIN = process.env.ZHIYING_BIN || path.join(targetDir, "debug", "zhiying");
export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** A fresh temp directory for one test file, with the data dir inside it. */
export function makeWorkDir(tag) {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `zhiying-e2e-${tag}-`));
  return { workDir, dataDir: path.join(workDir, "data") };
}

export function assertBinary() {
  assert.ok(fs.existsSync(BIN), `no zhiying binary at ${BIN}: build it with 'cargo build --bin zhiying' or set ZHIYING_BIN`);
}

export function freePort() {
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
 *  its output if it fails or outlives `timeoutMs`. */
export function run(cmd, args, timeoutMs = 15 * 60 * 1000) {
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

/** Runs `zhiying ARGS... --json` style commands and parses what they print. */
export async function zhiyingJson(args) {
  return JSON.parse(await run(BIN, args));
}

/** `zhiying demo --no-serve --json` on `dataDir`: the summary, with `logins` as username → password. */
export async function demo(dataDir, customers) {
  const summary = await zhiyingJson(["demo", "--customers", String(customers), "--data-dir", dataDir, "--no-serve", "--json"]);
  const logins = {};
  for (const l of summary.logins) logins[l.username] = l.password;
  return { summary, logins };
}

/** Adds a user with one role; resolves with the password the CLI prints once. */
export async function addUser(dataDir, username, role) {
  return (await zhiyingJson(["user", "add", "--data-dir", dataDir, "--username", username, "--role", role, "--json"])).password;
}

/** An API token for `user` with every scope. */
export async function createToken(dataDir, user) {
  return (await zhiyingJson(["token", "create", "--data-dir", dataDir, "--user", user, "--scope", "*", "--json"])).token;
}

/** `zhiying serve` on a free port, healthy. `stop()` ends it (SIGTERM, then SIGKILL). */
export async function startServer(dataDir, deadlineMs = 60_000) {
  const port = await freePort();
  const proc = spawn(BIN, ["serve", "--data-dir", dataDir, "--port", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stdout.on("data", (d) => (log += d));
  proc.stderr.on("data", (d) => (log += d));
  const server = {
    url: `http://127.0.0.1:${port}`,
    log: () => log,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  await waitForHealth(server.url, deadlineMs, () => {
    if (proc.exitCode !== null) throw new Error(`zhiying serve exited with code ${proc.exitCode}:\n${log.slice(-4000)}`);
  }, () => log);
  return server;
}

/** Polls `/healthz` until it answers 200; resolves with its JSON. */
export async function waitForHealth(url, deadlineMs, check = () => {}, log = () => "") {
  const end = Date.now() + deadlineMs;
  let last = "";
  while (Date.now() < end) {
    check();
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return await res.json();
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`server at ${url} not healthy in time (last: ${last}):\n${log().slice(-4000)}`);
}

export function launchBrowser() {
  return chromium.launch({
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
}

/** Ends what `before` started: the browser, the server, the work directory. */
export async function cleanup({ browser, server, workDir }) {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
}

/** A page (in its own context) that records page errors, console errors, failed requests
 *  and any request outside the server. `allowHttpErrors` keeps the browser's "status of
 *  4xx" console lines out (pages that expect a refusal). */
export async function newPage(browser, baseUrl, { lang = "en", allowHttpErrors = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, locale: lang === "zh" ? "zh-CN" : "en-US" });
  const page = await context.newPage();
  const problems = [];
  const origin = new URL(baseUrl).origin;
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (allowHttpErrors && /status of 4\d\d/.test(m.text())) return;
    problems.push(`console error: ${m.text()}`);
  });
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
  return { context, page, problems };
}

/** Signs in through the login form and waits until the login has redirected. */
export async function signIn(page, baseUrl, username, password, { lang = "en", next = "/console/data" } = {}) {
  await page.goto(`${baseUrl}/console/login?lang=${lang}&next=${encodeURIComponent(next)}`);
  await page.fill("#username", username);
  await page.fill("#password", password);
  await Promise.all([
    page.waitForURL((u) => !u.pathname.startsWith("/console/login"), { waitUntil: "load" }),
    page.click("form.login-form button[type=submit]"),
  ]);
}

/** [`newPage`] signed in as `username`, left where the login redirected (`next`). */
export async function signedInPage(browser, baseUrl, username, password, { lang = "en", next = "/console/data", allowHttpErrors = false } = {}) {
  const p = await newPage(browser, baseUrl, { lang, allowHttpErrors });
  await signIn(p.page, baseUrl, username, password, { lang, next });
  return p;
}

/** A JSON API caller with a bearer token: `call(method, path, body)` → {status, json, text}. */
export function apiClient(baseUrl, token) {
  return async (method, url, body) => {
    const r = await fetch(`${baseUrl}${url}`, {
      method,
      headers: { "Content-Type": "application/json", "Authorization": `Bearer ${token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch (_) {}
    return { status: r.status, json, text };
  };
}

/** Every [data-chart] element holds a drawn, non-empty ECharts canvas; at least `min`. */
export async function assertChartsDrawn(page, min) {
  await page.waitForFunction((n) => document.querySelectorAll("[data-chart] canvas").length >= n, min, { timeout: 15_000 });
  const charts = await page.$$eval("[data-chart]", (els) => els.map((el) => {
    const c = el.querySelector("canvas");
    return [el.getAttribute("data-chart"), c ? c.width : 0, c ? c.height : 0];
  }));
  assert.ok(charts.length >= min, `expected ${min} charts, found ${charts.length}`);
  for (const [name, w, h] of charts) assert.ok(w > 0 && h > 0, `chart ${name} has no drawn canvas (${w}x${h})`);
}
