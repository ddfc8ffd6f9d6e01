import type { Page } from 'playwright-core';

// Checks run inside the page. The tests are type-checked without the DOM library, so these are
// expressions in text, evaluated by Chromium through the debugging protocol (a predicate of
// page.waitForFunction would be eval'd by the page, which its Content-Security-Policy forbids).

/**
 * Pixels of the chart on `selector` drawn in its first series' colour (chart.js PALETTE[0],
 * #2f7ed8) above the plot's baseline: a line of zeros lies on the baseline, so only a non-zero
 * value counts.
 */
function linePixels(selector: string): string {
  return `(() => {
    const c = document.querySelector(${JSON.stringify(selector)});
    if (!c || c.width === 0) return 0;
    const dpr = window.devicePixelRatio || 1;
    const base = Math.floor((c.clientHeight - 22) * dpr) - 3;
    const d = c.getContext('2d').getImageData(0, 0, c.width, base).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - 47) < 40 && Math.abs(d[i + 1] - 126) < 40 && Math.abs(d[i + 2] - 216) < 40 && d[i + 3] > 100) n++;
    return n;
  })()`;
}

/**
 * Waits until the chart on `selector` says it shows a value above zero (its `data-max`), then
 * resolves with the pixels its first line drew above the baseline (0 if it drew nothing).
 */
export async function waitForLine(page: Page, selector: string, timeout = 10_000): Promise<number> {
  await page.waitForSelector(`${selector}[data-max]:not([data-max="0"])`, { timeout });
  return page.evaluate<number>(linePixels(selector));
}
