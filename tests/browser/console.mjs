// Drives the back-office console in Debian's headless Chromium, as a person would:
// signs in through the real form, reads the overview figures, screenshots the overview
// on a desktop and a tablet viewport, approves one response through the review form
// and checks the page it lands on; then tours the main pages in Chinese (chosen by the
// browser's Accept-Language) and English and Chinese again (chosen with the switcher),
// reading each page's title and a locale-formatted figure, with a screenshot of each.
//
// Run by tests/tests/browser.rs; by hand:
//   node tests/browser/console.mjs --url http://127.0.0.1:PORT --user rev \
//     --response DOC_ID --artifacts target/test-artifacts/console   (password: $CONSOLE_PASSWORD)
// Every option can also come from the environment: CONSOLE_URL, CONSOLE_USER,
// CONSOLE_PASSWORD, CONSOLE_RESPONSE, ARTIFACTS_DIR, REVIEW_COMMENT (optional: typed
// into the review form's comment), CHROMIUM (default /usr/bin/chromium).
//
// stdout: exactly one JSON line (the figures and what the review page showed);
// stderr: progress and, on failure, the reason. Exit 0 only when every step passed.

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

import { chromium } from "playwright-core";

// The flags known to work on this machine kind: headless, no sandbox (root), and no
// background traffic to Google's hosts, which a closed network refuses.
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const DESKTOP = { width: 1280, height: 900 };
const TABLET = { width: 820, height: 1180 };
const STEP_TIMEOUT_MS = 30_000;
const WHOLE_RUN_MS = 180_000;

class Failure extends Error {}

function fail(reason) {
  throw new Failure(reason);
}

function log(msg) {
  process.stderr.write(`console.mjs: ${msg}\n`);
}

function options() {
  const { values } = parseArgs({
    options: {
      url: { type: "string" },
      user: { type: "string" },
      password: { type: "string" },
      response: { type: "string" },
      artifacts: { type: "string" },
      comment: { type: "string" },
      chromium: { type: "string" },
    },
    strict: true,
  });
  const env = process.env;
  const o = {
    url: values.url ?? env.CONSOLE_URL,
    user: values.user ?? env.CONSOLE_USER,
    password: values.password ?? env.CONSOLE_PASSWORD,
    response: values.response ?? env.CONSOLE_RESPONSE,
    artifacts: values.artifacts ?? env.ARTIFACTS_DIR,
    comment: values.comment ?? env.REVIEW_COMMENT ?? "",
    chromium: values.chromium ?? env.CHROMIUM ?? "/usr/bin/chromium",
  };
  for (const k of ["url", "user", "password", "response", "artifacts"]) {
    if (!o[k]) fail(`missing --${k} (or its environment variable)`);
  }
  o.url = o.url.replace(/\/+$/, "");
  o.artifacts = resolve(o.artifacts);
  return o;
}

// Everything that would make the page wrong without failing a selector: a script or
// style refused by the content policy, a failed request, an error status. The console
// has no favicon; Chromium's own request for /favicon.ico (a 404) is not the page's.
function watch(page, problems, name) {
  page.on("console", (m) => {
    const from = m.location()?.url ?? "";
    if (m.type() === "error" && new URL(from, "http://x/").pathname === "/favicon.ico") return;
    if (m.type() === "error") {
      problems.push(`${name}: console error: ${m.text()} (${m.location()?.url ?? "?"})`);
    }
  });
  page.on("pageerror", (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on("requestfailed", (r) =>
    problems.push(`${name}: request failed: ${r.url()} (${r.failure()?.errorText})`),
  );
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`${name}: HTTP ${r.status()} for ${r.url()}`);
  });
}

async function text(page, selector) {
  const el = page.locator(selector);
  if ((await el.count()) !== 1) fail(`${page.url()}: expected one ${selector}`);
  return (await el.innerText()).trim();
}

// A `table.bands` as rows keyed by its header cells (group, n, high, middle, low, mean).
async function bandTable(page, id) {
  const rows = await page.$$eval(`table#${id}`, (tables) => {
    if (tables.length !== 1) return null;
    const t = tables[0];
    // Columns by their stable key (the header text is translated).
    const keys = [...t.querySelectorAll("thead th")].map((th) =>
      th.dataset.key ?? th.textContent.trim().toLowerCase(),
    );
    return [...t.querySelectorAll("tbody tr")].map((tr) => {
      const o = {};
      [...tr.querySelectorAll("td")].forEach((td, i) => {
        o[keys[i] ?? `col${i}`] = td.textContent.trim();
      });
      return o;
    });
  });
  if (rows === null) fail(`${page.url()}: expected one table#${id}`);
  return rows;
}

async function figures(page) {
  return {
    overall: {
      n: await text(page, "#overall-n"),
      high: await text(page, "#overall-high"),
      middle: await text(page, "#overall-middle"),
      low: await text(page, "#overall-low"),
      mean: await text(page, "#overall-mean"),
    },
    by_segment: await bandTable(page, "by-segment"),
    by_dimension: await bandTable(page, "by-dimension"),
  };
}

// Layout checks a screenshot alone would leave to a person: nothing wider than the
// viewport, every chart drawn with a real size.
async function layout(page, name) {
  const got = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    charts: [...document.querySelectorAll("svg.chart")].map((s) => {
      const r = s.getBoundingClientRect();
      return { w: Math.round(r.width), h: Math.round(r.height) };
    }),
    stylesheet: getComputedStyle(document.body).backgroundColor,
  }));
  if (got.scrollWidth > got.innerWidth) {
    fail(`${name}: the page is ${got.scrollWidth}px wide in a ${got.innerWidth}px viewport`);
  }
  if (got.charts.length === 0) fail(`${name}: no chart on the overview`);
  for (const c of got.charts) {
    if (c.w < 100 || c.h < 20) fail(`${name}: a chart is drawn at ${c.w}x${c.h}px`);
  }
  // style.css paints the body #f6f7f9; the default would be transparent/white.
  if (got.stylesheet !== "rgb(246, 247, 249)") {
    fail(`${name}: the stylesheet did not apply (body background ${got.stylesheet})`);
  }
  return got;
}

// Click `selector`, which posts a form to `path`; returns the POST's response once the
// page it leads to has loaded.
async function submit(page, selector, path) {
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === path),
    page.click(selector),
  ]);
  if (resp.status() === 303) {
    const to = new URL(resp.headers().location ?? "/", page.url()).href;
    await page.waitForURL(to);
  }
  await page.waitForLoadState("load");
  return resp;
}

async function signIn(page, o) {
  await page.goto(`${o.url}/login`);
  await page.fill("#username", o.user);
  await page.fill("#password", o.password);
  const resp = await submit(page, "#sign-in", "/login");
  const path = new URL(page.url()).pathname;
  if (resp.status() !== 303 || path !== "/") {
    const err = await page.locator("#login-error").innerText().catch(() => "");
    fail(`sign-in answered ${resp.status()} and left the page at ${path}${err ? `: "${err}"` : ""}`);
  }
}

// The main pages of the language tour: name, path.
const PAGES = [
  ["overview", "/"],
  ["responses", "/responses"],
  ["accounts", "/accounts"],
  ["commitments", "/commitments"],
  ["cases", "/cases"],
  ["warnings", "/warnings"],
];

// One language's view of the main pages: titles, the navigation, the overview's first
// dimension row, and the newest response's start time (a locale-formatted date).
async function tour(page, o, lang, shots) {
  const got = { html_lang: await page.getAttribute("html", "lang"), pages: {} };
  if (got.html_lang !== lang) fail(`the page is in ${got.html_lang}, not ${lang}`);
  for (const [name, path] of PAGES) {
    await page.goto(`${o.url}${path}`);
    const htmlLang = await page.getAttribute("html", "lang");
    if (htmlLang !== lang) fail(`${path} is in ${htmlLang}, not ${lang}`);
    got.pages[name] = {
      title: await text(page, "main h1"),
      nav: await text(page, 'header nav a[href="/responses"]'),
    };
    const file = join(o.artifacts, `${name}.${lang}.png`);
    await page.screenshot({ path: file, fullPage: true });
    shots[`${name}_${lang}`] = file;
  }
  await page.goto(`${o.url}/`);
  got.overview_mean = await text(page, "#overall-mean");
  got.dimension_header = await page.$$eval("table#by-dimension thead th", (ths) =>
    ths.map((th) => th.textContent.trim()),
  );
  got.chart_title = await page.$eval("svg.chart title", (t) => t.textContent.trim());
  await page.goto(`${o.url}/responses`);
  const first = page.locator("table#responses tbody tr").first();
  got.newest = {
    href: (await first.locator("td a").getAttribute("href")) ?? "",
    started: (await first.locator("td a").innerText()).trim(),
    status: (await first.locator("td.status").innerText()).trim(),
  };
  return got;
}

async function languages(context, o, problems, shots) {
  const page = await context.newPage();
  watch(page, problems, "languages");
  // No language chosen yet: the browser's Accept-Language decides.
  await page.setExtraHTTPHeaders({ "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5" });
  await page.goto(`${o.url}/`);
  const out = { by_accept_language: await page.getAttribute("html", "lang") };
  out["zh-CN"] = await tour(page, o, "zh-CN", shots);
  // The switcher wins over Accept-Language, and is kept (a cookie) from page to page.
  for (const lang of ["en", "zh-CN"]) {
    await page.goto(`${o.url}/responses`);
    await Promise.all([page.waitForURL(`${o.url}/responses`), page.click(`#lang-${lang}`)]);
    await page.waitForLoadState("load");
    out[`switched_${lang}`] = await tour(page, o, lang, shots);
  }
  out.en = out.switched_en;
  await page.close();
  log(`languages: ${JSON.stringify(out.en.pages.overview)} / ${JSON.stringify(out["zh-CN"].pages.overview)}`);
  return out;
}

async function run(o) {
  mkdirSync(o.artifacts, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), "fieldsync-chromium-"));
  const problems = [];
  const out = { screenshots: {} };
  let context;
  try {
    log(`starting ${o.chromium} (profile ${profile})`);
    context = await chromium.launchPersistentContext(profile, {
      executablePath: o.chromium,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: DESKTOP,
      timeout: 60_000,
    });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
    out.browser = context.browser()?.version() ?? "unknown";

    const page = context.pages()[0] ?? (await context.newPage());
    watch(page, problems, "desktop");
    // English pages first, whatever the machine's locale (a context-wide `locale` would
    // override the Accept-Language the language tour sends later).
    await page.setExtraHTTPHeaders({ "Accept-Language": "en-US,en;q=0.9" });
    log(`signing in at ${o.url}/login as ${o.user}`);
    await signIn(page, o);

    Object.assign(out, await figures(page));
    out.layout = { desktop: await layout(page, "desktop overview") };
    await page.screenshot({ path: join(o.artifacts, "overview.png"), fullPage: true });
    out.screenshots.overview = join(o.artifacts, "overview.png");
    log(`overview: n=${out.overall.n} mean=${out.overall.mean}; ${out.screenshots.overview}`);

    // The same session on a tablet-sized viewport: same figures, nothing off-screen.
    const tablet = await context.newPage();
    watch(tablet, problems, "tablet");
    await tablet.setExtraHTTPHeaders({ "Accept-Language": "en-US,en;q=0.9" });
    await tablet.setViewportSize(TABLET);
    await tablet.goto(`${o.url}/`);
    const tf = await figures(tablet);
    if (JSON.stringify(tf) !== JSON.stringify(await figures(page))) {
      fail("the tablet overview shows other figures than the desktop one");
    }
    out.layout.tablet = await layout(tablet, "tablet overview");
    await tablet.screenshot({ path: join(o.artifacts, "overview-tablet.png"), fullPage: true });
    out.screenshots.overview_tablet = join(o.artifacts, "overview-tablet.png");
    await tablet.close();

    // Approve one response through the review form.
    const id = encodeURIComponent(o.response);
    await page.goto(`${o.url}/responses/${id}`);
    out.status_before = await text(page, "#status");
    if ((await page.locator("#review-form #approve").count()) !== 1) {
      fail(`${o.user} gets no review form with #approve on /responses/${o.response}`);
    }
    if (o.comment) await page.fill("#review-form textarea[name=comment]", o.comment);
    const review = await submit(page, "#review-form #approve", `/responses/${id}/review`);
    if (review.status() !== 303) fail(`the review was answered ${review.status()}`);
    // The page the review redirects to: the console waits for its merged view before
    // redirecting, so this page must already show the review (browser.rs checks it).
    // Reloads are counted only to report how far behind a wrong first page was.
    out.status_after_redirect = await text(page, "#status");
    out.reloads = 0;
    const until = Date.now() + 10_000;
    const statusCode = async () => (await page.getAttribute("#status", "data-code")) ?? "";
    while ((await statusCode()) !== "approved" && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      await page.reload();
      out.reloads += 1;
    }
    out.status = await statusCode();
    out.status_text = await text(page, "#status");
    out.message = (await page.getAttribute("#message", "data-code")) ?? "";
    out.message_text = await text(page, "#message");
    if (out.status !== "approved") fail(`#status shows "${out.status}", not "approved"`);
    if (out.message !== "reviewed") fail(`#message shows "${out.message}", not "reviewed"`);
    out.reviews = await page.$$eval("ul.reviews li", (lis) => lis.map((li) => li.textContent.trim()));
    if (o.comment && !out.reviews.some((r) => r.includes(o.comment))) {
      fail("the review list does not show the comment");
    }
    await page.screenshot({ path: join(o.artifacts, "response.png"), fullPage: true });
    out.screenshots.response = join(o.artifacts, "response.png");

    out.i18n = await languages(context, o, problems, out.screenshots);

    if (problems.length > 0) fail(problems.join("; "));
    return out;
  } catch (e) {
    if (Object.keys(out).length > 1) log(`read so far: ${JSON.stringify(out)}`);
    throw e;
  } finally {
    await context?.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}

const watchdog = setTimeout(() => {
  log(`gave up after ${WHOLE_RUN_MS / 1000} s`);
  process.exit(2);
}, WHOLE_RUN_MS);

try {
  const out = await run(options());
  process.stdout.write(`${JSON.stringify(out)}\n`);
  clearTimeout(watchdog);
  process.exitCode = 0;
} catch (e) {
  log(`FAILED: ${e instanceof Failure ? e.message : (e?.stack ?? e)}`);
  clearTimeout(watchdog);
  process.exitCode = 1;
}
