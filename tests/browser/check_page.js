// Open one rendered session page in headless Chromium (driven through the DevTools protocol
// by playwright-core) and report what a person's browser would see, as one JSON object on
// stdout. The Rust test (tests/html_browser.rs) decides what is right.
//
// usage: node check_page.js '{"url": "...", "screenshot": "...", "chromium": "/usr/bin/chromium",
//                             "playwright": ".../node_modules/playwright-core"}'
"use strict";

const args = JSON.parse(process.argv[2]);
const { chromium } = require(args.playwright);

(async () => {
  const browser = await chromium.launch({
    executablePath: args.chromium,
    headless: true,
    chromiumSandbox: false,
    args: [
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const out = { console: [], pageErrors: [], requests: [], failed: [] };
  try {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, colorScheme: "light" });
    const page = await context.newPage();
    page.on("console", (m) => out.console.push({ type: m.type(), text: m.text() }));
    page.on("pageerror", (e) => out.pageErrors.push(String(e)));
    page.on("request", (r) => out.requests.push(r.url()));
    page.on("requestfailed", (r) => out.failed.push(r.url()));
    const resp = await page.goto(args.url, { waitUntil: "load", timeout: 60000 });
    out.status = resp ? resp.status() : null;
    out.contentType = resp ? (await resp.allHeaders())["content-type"] || null : null;
    await page.waitForTimeout(300);
    out.title = await page.title();
    if (args.loadAll) {
      // A big session's lazy sections: count, then click every "Show more" button.
      out.initialMessages = await page.locator("article.msg").count();
      out.lazySections = await page.locator("section.lazy").count();
      for (let i = 0; i < 1000 && (await page.locator("button.load").count()) > 0; i++) {
        await page.locator("button.load").first().click();
      }
    }
    out.messages = await page.locator("article.msg").count();
    out.toolCalls = await page.locator("div.tool-call").count();
    out.anchors = await page.evaluate(() => document.querySelectorAll('article.msg[id^="msg-"]').length);
    out.pwned = await page.evaluate(() => (typeof window.__pwned === "undefined" ? null : String(window.__pwned)));
    out.scripts = await page.evaluate(() => document.scripts.length);
    out.csp = await page.evaluate(() => {
      const m = document.querySelector('meta[http-equiv="Content-Security-Policy"]');
      return m ? m.content : null;
    });
    out.bodyText = await page.evaluate(() => document.body.innerText.length);
    out.subagents = await page.locator("details.subagent").count();
    // Printing opens every collapsed section (the page's one script).
    await page.emulateMedia({ media: "print" });
    await page.evaluate(() => window.dispatchEvent(new Event("beforeprint")));
    out.closedAfterPrint = await page.evaluate(() => [...document.querySelectorAll("details")].filter((d) => !d.open).length);
    await page.emulateMedia({ media: "screen" });
    await page.evaluate(() => document.querySelectorAll("details").forEach((d) => (d.open = false)));
    // Off-screen messages are skipped by `content-visibility: auto` (what keeps big pages
    // fast) and a full-page capture would show them blank: render them all for the picture.
    await page.addStyleTag({ content: "article.msg{content-visibility:visible !important}" });
    await page.screenshot({ path: args.screenshot, fullPage: true });
    // A phone: nothing wider than the screen (no sideways scrolling of the page).
    await page.setViewportSize({ width: 390, height: 844 });
    out.phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await page.screenshot({ path: args.screenshot.replace(/\.png$/, "-phone.png") });
    await page.setViewportSize({ width: 1100, height: 900 });
    // Dark mode renders too (screenshot only).
    await page.emulateMedia({ colorScheme: "dark" });
    await page.screenshot({ path: args.screenshot.replace(/\.png$/, "-dark.png") });
    if (args.hash) {
      // A link to a message inside a lazy section loads that section.
      await page.goto(args.url + "#" + args.hash, { waitUntil: "load" });
      await page.waitForTimeout(300);
      out.hashFound = await page.evaluate((h) => !!document.getElementById(h), args.hash);
    }
    // Snapshot the console before probing the policy, whose refusals log errors by design.
    out.consoleBeforeProbe = out.console.length;
    out.requestsBeforeProbe = out.requests.slice();
    out.fetchProbe = await page.evaluate(() =>
      fetch("http://127.0.0.1:9/").then(
        () => "fetched",
        (e) => "blocked: " + e,
      ),
    );
    out.scriptProbe = await page.evaluate(
      () =>
        new Promise((resolve) => {
          const s = document.createElement("script");
          s.src = "http://127.0.0.1:9/x.js";
          s.onload = () => resolve("loaded");
          s.onerror = () => resolve("blocked");
          document.head.appendChild(s);
          setTimeout(() => resolve("timeout"), 3000);
        }),
    );
    out.inlineProbe = await page.evaluate(() => {
      const s = document.createElement("script");
      s.textContent = "window.__inline = 1";
      document.head.appendChild(s);
      return typeof window.__inline === "undefined" ? "blocked" : "ran";
    });
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => {
  process.stderr.write("check_page.js: " + (e && e.stack ? e.stack : e) + "\n");
  process.exit(3);
});
