/**
 * One base error with a stable string `code` per failure, as undici and ws do. Each area (sni,
 * crypto, mux, relay) subclasses it with its own literal union of codes. Messages never carry
 * key material or peer-controlled bytes beyond what a log line needs.
 */
export class RelayError<C extends string = string> extends Error {
  readonly code: C;
  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}
