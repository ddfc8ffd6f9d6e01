/** The multiplex: many flow-controlled byte streams over one secure channel, and the splice that joins a stream to a socket. */
export { Session } from './session.js';
export { Stream } from './stream.js';
export { splice, type SpliceOptions } from './splice.js';
export { MuxError } from './errors.js';
export { DEFAULT_MUX_CONFIG, type MuxConfig } from './config.js';
export { ResetCode } from './frame.js';
export { SendBudget } from './send-budget.js';
