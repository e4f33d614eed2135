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
import {
  addUser, apiClient, assertBinary, cleanup, createToken, launchBrowser, makeWorkDir, run, BIN, signedInPage, startServer,
} from "./helpers.mjs";

const { workDir, dataDir } = makeWorkDir("cmp");
let server = null;
let baseUrl = null;
let browser = null;
const passwords = {};
let checker = null;

before(async () => {
  assertBinary();
  await run(BIN, ["audience", "fixture", "--data-dir", dataDir, "--customers", "2000"]);
  for (const [user, role] of [["maker", "marketer"], ["checker", "compliance_officer"]]) {
    passwords[user] = await addUser(dataDir, user, role);
  }
  server = await startServer(dataDir);
  baseUrl = server.url;
  checker = apiClient(baseUrl, await createToken(dataDir, "checker"));
  browser = await launchBrowser();
});

after(() => cleanup({ browser, server, workDir }));

/** A page signed in as `user`, on `next`. The approval queue refuses some moves on
 *  purpose: 4xx answers are expected. */
function signIn(user, next) {
  return signedInPage(browser, baseUrl, user, passwords[user], { next, allowHttpErrors: true });
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
  const count = (await checker("POST", "/v1/audiences/count", { expr: 'aum_tier = "mass"' })).json;
  assert.equal(size, count.count);
  assert.match(await review.locator(".cmp-contacts").innerText(), /App push|app_push/i);
  assert.match(await review.locator(".cmp-content").innerText(), /张\*您好，绑卡有礼/);
  await review.locator("input[name=note]").first().fill("Looks right");
  await Promise.all([page.waitForEvent("load"), review.locator(`button[data-approve="${created}"]`).click()]);
  assert.match(await page.locator("#approval-done").innerText(), new RegExp(created));
  assert.deepEqual(c.problems, []);
  await c.context.close();

  const t = (await checker("GET", `/v1/campaigns/${created}/transitions`)).json;
  assert.deepEqual(t.map((x) => [x.to, x.actor]), [["draft", "maker"], ["submitted", "maker"], ["approved", "checker"]]);
  assert.equal(t[2].snapshot.audience_size, count.count);
  assert.equal(t[2].snapshot.budget_fen, 200000);
});
