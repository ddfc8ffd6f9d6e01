export { Session, type SessionOptions } from './session.js';
export { Stream } from './stream.js';
export { splice, type SpliceOptions } from './splice.js';
export { MuxError, type MuxErrorCode } from './errors.js';
export { DEFAULT_MUX_CONFIG, resolveMuxConfig, type MuxConfig } from './config.js';
export { ResetCode, GoAwayCode, FrameType, type OpenMetadata } from './frame.js';
export { SendBudget } from './send-budget.js';
