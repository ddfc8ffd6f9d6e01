// A small time-series chart on a canvas: one line per series over a fixed window, a few grid
// lines with labels, a legend of text. Colours come from the stylesheet's palette order.

const PALETTE = ['#2f7ed8', '#e4572e', '#17a398', '#f3a712', '#8e44ad', '#6c7a89', '#c0392b', '#27ae60', '#d35400', '#2c3e50'];

export class Chart {
  /**
   * `canvas`: the element; `legend`: an element for the series names; `opts.windowSec`: seconds
   * shown; `opts.format`: a value's label.
   */
  constructor(canvas, legend, opts) {
    this.canvas = canvas; this.legend = legend; this.opts = opts;
    this.series = []; // { name, points: [[t, v], …] }
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /** `series`: [{ name, points: [[t (s), value], …] }]; redraws. */
  set(series) {
    const names = this.series.map((s) => s.name).join('\n');
    this.series = series;
    if (names !== series.map((s) => s.name).join('\n')) this.drawLegend();
    this.draw();
  }

  drawLegend() {
    this.legend.replaceChildren(...this.series.map((s, i) => {
      const item = document.createElement('span');
      item.className = `swatch k${i % PALETTE.length}`;
      item.textContent = s.name;
      return item;
    }));
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth; const h = c.clientHeight;
    if (w === 0 || h === 0) return;
    if (c.width !== Math.round(w * dpr)) c.width = Math.round(w * dpr);
    if (c.height !== Math.round(h * dpr)) c.height = Math.round(h * dpr);
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const left = 64; const right = 18; const top = 8; const bottom = 22;
    const pw = w - left - right; const ph = h - top - bottom;
    const now = Math.floor(Date.now() / 1000);
    const t0 = now - this.opts.windowSec;
    let max = 0;
    for (const s of this.series) for (const [t, v] of s.points) if (t >= t0 && v > max) max = v;
    c.dataset.max = String(max); // the highest value shown, for a reader (and the tests) to check
    max = niceCeil(max);
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#6b7280'; g.strokeStyle = '#e5e7eb'; g.lineWidth = 1;
    g.textAlign = 'right'; g.textBaseline = 'middle';
    for (let i = 0; i <= 4; i++) {
      const y = top + ph - (ph * i) / 4;
      g.beginPath(); g.moveTo(left, Math.round(y) + 0.5); g.lineTo(left + pw, Math.round(y) + 0.5); g.stroke();
      g.fillText(this.opts.format((max * i) / 4), left - 6, y);
    }
    g.textAlign = 'center'; g.textBaseline = 'top';
    const minutes = this.opts.windowSec / 60;
    const step = minutes > 5 ? 5 : 1;
    for (let m = 0; m <= minutes; m += step) {
      const x = left + pw - (pw * m * 60) / this.opts.windowSec;
      g.fillText(m === 0 ? 'now' : `-${m} min`, x, top + ph + 7);
    }
    const x = (t) => left + (pw * (t - t0)) / this.opts.windowSec;
    const y = (v) => top + ph - (max > 0 ? (ph * v) / max : 0);
    g.lineWidth = 1.5; g.lineJoin = 'round';
    // The first series is drawn last, on top: where lines cross, it is the one seen.
    [...this.series.entries()].reverse().forEach(([i, s]) => {
      g.strokeStyle = PALETTE[i % PALETTE.length];
      g.beginPath();
      let started = false;
      for (const [t, v] of s.points) {
        if (t < t0) continue;
        if (!started) { g.moveTo(x(t), y(v)); started = true; } else g.lineTo(x(t), y(v));
      }
      g.stroke();
    });
  }
}

/** 1, 2 or 5 times a power of ten, at least `v` (and at least 1). */
function niceCeil(v) {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
