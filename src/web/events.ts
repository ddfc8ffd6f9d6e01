import type http from 'node:http';
import type { Logger } from '../log.js';
import { securityHeaders } from './static.js';

export interface EventHubOptions {
  /** Streams open at once (default 16); one more is answered 503. */
  maxClients?: number;
  /** Bytes a client may leave unread before it is dropped (default 1 MiB): a slow reader is never buffered for without bound. */
  maxBacklog?: number;
  logger: Logger;
}

/**
 * One Server-Sent Events stream per page (HTML Living Standard §9.2, `text/event-stream`): each
 * event is written once as text and sent to every client. Bounded: at most `maxClients`
 * streams, and a client whose unread backlog passes `maxBacklog` is disconnected (its page
 * reconnects and starts again from a fresh `hello`).
 */
export class EventHub {
  private readonly clients = new Set<http.ServerResponse>();
  private readonly maxClients: number;
  private readonly maxBacklog: number;
  private readonly log: Logger;
  private keepalive: NodeJS.Timeout | null = null;

  constructor(opts: EventHubOptions) {
    this.maxClients = opts.maxClients ?? 16;
    this.maxBacklog = opts.maxBacklog ?? 1024 * 1024;
    this.log = opts.logger;
  }

  get size(): number { return this.clients.size; }

  /** Opens a stream on `res` and sends it `hello` first (the page's full state). */
  accept(res: http.ServerResponse, hello: { event: string; data: unknown }): void {
    if (this.clients.size >= this.maxClients) {
      this.log.warn({ event: 'events.refused', clients: this.clients.size }, 'event stream refused: too many clients');
      res.writeHead(503, { ...securityHeaders(), 'content-type': 'text/plain', 'retry-after': '5' }).end('too many event streams\n');
      return;
    }
    res.writeHead(200, { ...securityHeaders(), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    res.socket?.setNoDelay(true);
    this.clients.add(res);
    res.once('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0 && this.keepalive) { clearInterval(this.keepalive); this.keepalive = null; }
    });
    res.write(frame(hello.event, hello.data));
    // A comment line now and then keeps idle proxies and the listener's idle timeout from cutting a quiet stream.
    this.keepalive ??= setInterval(() => this.sendText(': keepalive\n\n'), 5_000);
    this.keepalive.unref();
  }

  /** Sends one event to every client. */
  send(event: string, data: unknown): void {
    if (this.clients.size > 0) this.sendText(frame(event, data));
  }

  /** Ends every stream (shutdown). */
  closeAll(): void {
    for (const res of this.clients) res.destroy();
    this.clients.clear();
  }

  private sendText(text: string): void {
    for (const res of this.clients) {
      if (res.writableLength > this.maxBacklog) {
        this.log.warn({ event: 'events.dropped', backlog: res.writableLength }, 'event stream client too slow; disconnected');
        this.clients.delete(res);
        res.destroy();
        continue;
      }
      res.write(text);
    }
  }
}

/** `event:` and one `data:` line: JSON.stringify never writes a line break, so one line holds it. */
function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
