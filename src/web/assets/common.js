// Shared by the dashboard and the inspector: DOM building (text only: never innerHTML with data),
// formatting, and one event stream read with fetch() (so that it can carry an Authorization
// header, which EventSource cannot).

/** An element with `className` and children; strings become text nodes, so data is never parsed as HTML. */
export function el(tag, className, ...children) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** Replaces a table body's rows. */
export function setRows(tbody, rows) {
  tbody.replaceChildren(...rows);
}

export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024; let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function fmtRate(n) { return `${fmtBytes(Math.round(n))}/s`; }

export function fmtDuration(ms) {
  if (ms < 1000) return `${ms} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function fmtTime(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

export function fmtSince(iso) {
  const ms = Date.now() - Date.parse(iso);
  return `${fmtDuration(Math.max(0, Math.round(ms / 1000) * 1000))} ago`;
}

/**
 * Reads a Server-Sent Events stream (`event:` and `data:` lines, JSON data) with fetch(), and
 * reconnects after a drop. `headers()` gives the request's headers (the bearer token);
 * `on.unauthorized()` is called on a 401 and stops the loop until `start()` is called again.
 */
export class EventStream {
  constructor(path, headers, on) {
    this.path = path; this.headers = headers; this.on = on; this.abort = null; this.generation = 0;
  }

  start() {
    this.abort?.abort();
    const gen = ++this.generation;
    void this.run(gen);
  }

  async run(gen) {
    while (gen === this.generation) {
      const abort = new AbortController();
      this.abort = abort;
      try {
        const res = await fetch(this.path, { headers: this.headers(), signal: abort.signal, cache: 'no-store' });
        if (res.status === 401) { this.on.status('locked'); this.on.unauthorized(); return; }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        this.on.status('live');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let event = 'message'; let data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith('event: ')) event = line.slice(7);
              else if (line.startsWith('data: ')) data += line.slice(6);
            }
            if (data !== '') this.on[event]?.(JSON.parse(data));
          }
        }
      } catch {
        if (gen !== this.generation) return;
      }
      if (gen !== this.generation) return;
      this.on.status('reconnecting');
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

/** Shows the stream's state in the header pill. */
export function showStatus(pill, state) {
  pill.textContent = { live: 'live', reconnecting: 'reconnecting…', locked: 'token needed' }[state] ?? state;
  pill.className = `pill ${state}`;
}
