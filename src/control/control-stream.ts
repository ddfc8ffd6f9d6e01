import type { Stream } from '../mux/stream.js';
import { LineDecoder, encodeLine, type RegisterMessage, type RegisteredMessage, type UpdateMessage } from './messages.js';

/**
 * Lines of JSON over one mux stream (docs/protocol.md "Control stream"). A bad line or an
 * over-long one resets the stream; `onError` tells the owner, who ends the session.
 */
export class ControlStream {
  onLine: (line: string) => void = () => {};
  onError: (error: Error) => void = () => {};
  private readonly decoder = new LineDecoder();

  constructor(readonly stream: Stream) {
    stream.onData = (chunk) => {
      let lines: string[];
      try { lines = this.decoder.push(chunk); } catch (e) { this.fail(e as Error); return; }
      for (const l of lines) {
        try { this.onLine(l); } catch (e) { this.fail(e as Error); return; }
      }
    };
  }

  private ended = false;

  /**
   * Sends one message; false (and nothing sent) once this side has ended the stream or the
   * stream is gone, so an answer that comes due late never throws "write after end".
   */
  send(m: RegisterMessage | RegisteredMessage | UpdateMessage): boolean {
    if (this.ended || this.stream.destroyed) return false;
    this.stream.write(encodeLine(m));
    return true;
  }

  /** Half-closes this side (idempotent); nothing can be sent after it. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.stream.end();
  }

  private fail(e: Error): void {
    this.stream.destroy(e);
    this.onError(e);
  }
}
