// Browser test of sluice's web console, driven by test/console's Go test
// (console_test.go), which starts `sluice up` and keeps appending lines to
// the source file. It drives the system's Chromium through playwright-core:
//
//   SLUICE_URL       the REST base URL (http://127.0.0.1:PORT)
//   INPUT_FILE       the file the FileStreamSource reads
//   SINK_FILE        the file the FileStreamSink writes
//   SCREENSHOT_DIR   where the page screenshots go
//   CHROMIUM         the browser binary (default /usr/bin/chromium)
//   PG_HOST, PG_PORT, PG_USER, PG_DB  a PostgreSQL with the shop tables
//   PG_SECRET        the password put in the CDC connector's config; it
//                    must never reach the browser
//
// Every step prints one line; any failure exits non-zero with the reason.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const base = process.env.SLUICE_URL;
const inputFile = process.env.INPUT_FILE;
const sinkFile = process.env.SINK_FILE;
const shots = process.env.SCREENSHOT_DIR;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const T = 30000; // per-step timeout
const secret = process.env.PG_SECRET;

function step(msg) { console.log(`[console.js +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`); }
const t0 = Date.now();

async function rest(method, p, body) {
  const res = await fetch(base + p, {
    method, headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function shot(page, name) {
  await page.evaluate(() => document.getElementById("toast").replaceChildren());
  await page.screenshot({ path: path.join(shots, name + ".png") });
  step(`screenshot ${name}.png`);
}

async function stateIs(page, state) {
  await page.waitForFunction((s) => document.querySelector("[data-state]")?.dataset.state === s, state, { timeout: T });
}

async function recordsOut(page) {
  return Number(await page.getAttribute('[data-stat="records-out"]', "data-raw"));
}

async function confirm(page, label) {
  await page.getByRole("toolbar", { name: "Connector actions" }).getByRole("button", { name: label, exact: true }).click();
  const dlg = page.locator("dialog#confirm");
  await dlg.waitFor({ state: "visible", timeout: T });
  const curl = await dlg.locator("#confirm-curl").textContent();
  if (!curl.startsWith("curl -X ")) throw new Error(`confirmation of ${label} shows no curl command: ${curl}`);
  await dlg.getByRole("button", { name: label, exact: true }).click();
}

async function main() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-console-chromium-"));
  const ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1440, height: 900 },
  });
  const errors = [];
  try {
    const page = ctx.pages()[0] || (await ctx.newPage());
    page.on("pageerror", (e) => errors.push("page error: " + e.message));
    // Answers such as 403 (topic tracking off) and 404 (GET /connectors/{name}/pool of a connector without a pool) are
    // handled by the page; Chromium still logs them as failed loads.
    page.on("console", (m) => {
      if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of (403|404)/.test(m.text())) errors.push("console error: " + m.text());
    });
    page.setDefaultTimeout(T);
    // Every answer the page gets from sluice, to prove no secret reaches it.
    const bodies = [];
    page.on("response", async (r) => {
      if (!r.url().startsWith(base)) return;
      try { bodies.push({ url: r.url(), text: await r.text() }); } catch { /* redirects have no body */ }
    });

    // 1. Create a FileStreamSource through the form, first with a bad field.
    await page.goto(base + "/ui/#/connectors");
    await page.getByRole("heading", { name: "Connectors" }).waitFor();
    await page.getByRole("link", { name: "New connector" }).first().click();
    await page.getByLabel("Connector plugin").selectOption("org.apache.kafka.connect.file.FileStreamSourceConnector");
    await page.locator('[data-key="topic"]').waitFor();
    await page.getByLabel("Name", { exact: true }).fill("orders-file");
    await page.locator('[data-key="file"]').fill(inputFile);
    await page.locator('[data-key="topic"]').fill("orders");
    await page.locator('[data-key="batch.size"]').fill("lots");
    await page.getByRole("button", { name: "Create connector" }).click();
    const fieldErr = page.locator('.field[data-field="batch.size"] .err');
    await page.waitForFunction(() => (document.querySelector('.field[data-field="batch.size"] .err')?.textContent || "").length > 0, null, { timeout: T });
    const errText = await fieldErr.textContent();
    if (!/batch\.size/.test(errText)) throw new Error(`validation error next to batch.size does not name the field: ${errText}`);
    if ((await page.locator('[data-key="batch.size"]').getAttribute("aria-invalid")) !== "true") throw new Error("batch.size is not marked aria-invalid");
    const before = await rest("GET", "/connectors");
    if (before.body.includes("orders-file")) throw new Error("the connector was created although validation failed");
    step(`validation error shown next to batch.size: ${errText}`);
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, "create-validation");

    await page.locator('[data-key="batch.size"]').fill("50");
    await page.getByRole("button", { name: "Create connector" }).click();
    await page.waitForURL(/#\/connectors\/orders-file$/, { timeout: T });
    await stateIs(page, "RUNNING");
    step("orders-file is RUNNING");

    // 2. Record counts rise (the Go test keeps appending lines).
    await page.waitForFunction(() => Number(document.querySelector('[data-stat="records-out"]')?.dataset.raw) > 0, null, { timeout: T });
    const r1 = await recordsOut(page);
    await page.waitForFunction((n) => Number(document.querySelector('[data-stat="records-out"]')?.dataset.raw) > n, r1, { timeout: T });
    const r2 = await recordsOut(page);
    step(`records out rose from ${r1} to ${r2}`);
    await page.locator("svg.chart polyline.s-out").waitFor({ timeout: T });

    // 3. A sink created from the JSON editor, so groups and lag have data.
    await page.goto(base + "/ui/#/new");
    await page.getByLabel("Connector plugin").selectOption("org.apache.kafka.connect.file.FileStreamSinkConnector");
    await page.locator('[data-key="topics"]').waitFor();
    await page.getByRole("tab", { name: "JSON" }).click();
    await page.getByLabel("Connector JSON").fill(JSON.stringify({
      name: "orders-archive",
      config: { "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector", topics: "orders", file: sinkFile },
    }, null, 2));
    await page.getByRole("button", { name: "Create connector" }).click();
    await page.waitForURL(/#\/connectors\/orders-archive$/, { timeout: T });
    await stateIs(page, "RUNNING");
    step("orders-archive (sink, from JSON) is RUNNING");

    // 4. Pause and resume the source through the REST API, with confirmation.
    await page.goto(base + "/ui/#/connectors/orders-file");
    await stateIs(page, "RUNNING");
    await page.waitForFunction(() => (document.querySelector("svg.chart polyline.s-out")?.getAttribute("points") || "").split(" ").length >= 4, null, { timeout: T });
    await shot(page, "connector");
    await confirm(page, "Pause");
    await stateIs(page, "PAUSED");
    let st = await rest("GET", "/connectors/orders-file/status");
    if (st.body.connector.state !== "PAUSED") throw new Error(`REST status after Pause: ${st.body.connector.state}`);
    step("paused (REST agrees)");
    await confirm(page, "Resume");
    await stateIs(page, "RUNNING");
    st = await rest("GET", "/connectors/orders-file/status");
    if (st.body.connector.state !== "RUNNING") throw new Error(`REST status after Resume: ${st.body.connector.state}`);
    const r3 = await recordsOut(page);
    await page.waitForFunction((n) => Number(document.querySelector('[data-stat="records-out"]')?.dataset.raw) > n, r3, { timeout: T });
    step(`resumed (REST agrees); records out rising again past ${r3}`);

    // Edit through the form: a PATCH of the changed key only.
    await page.getByRole("toolbar", { name: "Connector actions" }).getByRole("link", { name: "Edit" }).click();
    await page.locator('[data-key="batch.size"]').waitFor();
    if ((await page.locator('[data-key="batch.size"]').inputValue()) !== "50") throw new Error("the edit form is not prefilled with batch.size 50");
    await page.locator('[data-key="batch.size"]').fill("20");
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.waitForURL(/#\/connectors\/orders-file$/, { timeout: T });
    await page.locator("table.cfg tr", { hasText: "batch.size" }).locator("td", { hasText: /^20$/ }).waitFor();
    const edited = await rest("GET", "/connectors/orders-file/config");
    if (edited.body["batch.size"] !== "20" || edited.body.file !== inputFile) throw new Error(`config after edit: ${JSON.stringify(edited.body)}`);
    step("edited batch.size to 20 through the form (REST agrees)");

    // 5. A connector whose task fails (its file is a directory), created
    // with a plain REST call, shows its task's error trace.
    const bad = await rest("POST", "/connectors", { name: "legacy-import", config: {
      "connector.class": "FileStreamSource", file: path.dirname(inputFile), topic: "legacy" } });
    if (bad.status !== 201) throw new Error(`creating legacy-import: ${bad.status} ${JSON.stringify(bad.body)}`);
    await page.goto(base + "/ui/#/connectors/legacy-import");
    const failedRow = page.locator('tr[data-task="0"]');
    await failedRow.locator(".badge.FAILED").waitFor({ timeout: T });
    await failedRow.locator("summary").click();
    const trace = await failedRow.locator("pre.trace").textContent();
    if (!/is a directory/.test(trace)) throw new Error(`task trace does not explain the failure: ${trace}`);
    step(`legacy-import task 0 FAILED with trace: ${trace.slice(0, 80)}`);
    await shot(page, "task-trace");

    // 6. A Postgres CDC source: snapshot progress, and its password masked.
    const cdc = await rest("POST", "/connectors", { name: "shop-cdc", config: {
      "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
      "database.hostname": process.env.PG_HOST, "database.port": process.env.PG_PORT,
      "database.user": process.env.PG_USER, "database.password": secret, "database.dbname": process.env.PG_DB,
      "topic.prefix": "shop", "plugin.name": "pgoutput", "slot.name": "sluice_console", "publication.name": "sluice_console",
      "publication.autocreate.mode": "filtered", "table.include.list": "public.customers,public.orders", "snapshot.mode": "initial" } });
    if (cdc.status !== 201) throw new Error(`creating shop-cdc: ${cdc.status} ${JSON.stringify(cdc.body)}`);
    await page.goto(base + "/ui/#/connectors/shop-cdc");
    await stateIs(page, "RUNNING");
    await page.locator('[role="progressbar"][aria-valuenow="100"]').waitFor({ timeout: 60000 });
    const snapText = await page.locator("section[aria-labelledby=h-snap]").textContent();
    if (!/2\/2 tables/.test(snapText) || !/completed/.test(snapText)) throw new Error(`snapshot panel: ${snapText}`);
    const pw = await page.locator("table.cfg tr", { hasText: "database.password" }).locator("td").nth(1).textContent();
    if (pw !== "[hidden]") throw new Error(`database.password shows ${JSON.stringify(pw)}, want [hidden]`);
    await page.waitForFunction(() => (document.querySelector("svg.chart polyline.s-out")?.getAttribute("points") || "").split(" ").length >= 3, null, { timeout: T });
    await page.locator("section[aria-labelledby=h-topics] a", { hasText: "shop.public.orders" }).waitFor();
    step(`shop-cdc snapshot: ${snapText.replace(/\s+/g, " ").trim()}; password masked`);
    await shot(page, "cdc-snapshot");

    // 7. The connectors list.
    await page.getByRole("link", { name: "Connectors", exact: true }).first().click();
    await page.locator('tr[data-connector="orders-archive"]').waitFor();
    await page.waitForFunction(() => ["orders-file", "orders-archive"].every((n) => document.querySelector(`tr[data-connector="${n}"] .badge.RUNNING`))
      && document.querySelector('tr[data-connector="legacy-import"] .badge.FAILED'), null, { timeout: T });
    await shot(page, "connectors");

    // 8. Topics and the message browser on the source's topic.
    await page.getByRole("link", { name: "Topics" }).click();
    await page.locator('tr[data-topic="orders"]').waitFor();
    await shot(page, "topics");
    await page.locator('tr[data-topic="orders"] a').click();
    await page.getByRole("heading", { name: "Message browser" }).waitFor();
    const rec = page.locator("article.msg").first();
    await rec.waitFor();
    const value = await rec.locator(".value").textContent();
    if (!/order \d+/.test(value)) throw new Error(`the newest record's value does not hold a line of the input file: ${value}`);
    const lines = fs.readFileSync(inputFile, "utf8");
    const m = value.match(/order \d+ sku=SKU-\d+ qty=\d+/);
    if (!lines.includes(m[0])) throw new Error(`record value ${m[0]} is not a line of ${inputFile}`);
    step(`message browser shows record at offset ${await rec.getAttribute("data-offset")}: ${m[0]}`);
    await shot(page, "messages");

    // 9. The config topic is never shown (secrets), and consumer groups.
    const cfgTopic = await rest("GET", "/ui/api/topics/connect-configs/messages");
    if (cfgTopic.status !== 403) throw new Error(`reading connect-configs answered ${cfgTopic.status}, want 403`);
    await page.getByRole("link", { name: "Consumer groups" }).click();
    const g = page.locator('tr[data-group="connect-orders-archive"]');
    await g.waitFor();
    await g.locator("summary").click();
    await page.getByRole("heading", { name: "Partitions" }).waitFor();
    await shot(page, "groups");

    await page.getByRole("link", { name: "Workers" }).click();
    await page.getByRole("table", { name: "Workers" }).waitFor();
    await page.getByRole("heading", { name: "Worker pools" }).waitFor();
    await page.getByText(/No connector runs on a worker pool/).waitFor();
    await shot(page, "workers");
    step("workers page shows the workers and that no connector runs on a pool");

    if (errors.length) throw new Error("browser errors:\n" + errors.join("\n"));
    if ((await page.content()).includes(secret)) throw new Error("the page holds the connector's password");
    // The REST API returns connector configs verbatim, as Kafka Connect does
    // (the console hides secrets when it shows them, checked above); no
    // other response (topics, messages, metrics, groups) may carry it.
    const restConfig = (u) => /^\/connectors(\/[^/?]+(\/config)?)?([?]|$)/.test(new URL(u).pathname + new URL(u).search);
    const leaked = bodies.filter((b) => b.text.includes(secret) && !restConfig(b.url)).map((b) => b.url);
    if (leaked.length) throw new Error("responses outside the connector config endpoints hold the password: " + leaked.join(", "));
    if (!bodies.some((b) => b.text.includes(secret) && restConfig(b.url))) throw new Error("no REST connector response held the password: the REST API should return configs verbatim, as Kafka");
    step(`the page never shows the password; of ${bodies.length} responses only REST connector configs (verbatim, as Kafka) hold it`);
    step("ok");
  } finally {
    await ctx.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`[console.js] FAIL: ${e.stack || e}`);
  process.exit(1);
});
