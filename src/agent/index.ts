/**
 * The private side: dials out to a relay, registers its tunnels, and for every stream dials the
 * local target its own configuration names for that tunnel, never one the relay names.
 */
export { AgentClient } from './client.js';
export { ConnectionBook } from './connection-book.js';
export { startInspector } from './inspector.js';
export { loadAgentConfig, type AgentFileConfig } from './config.js';
export { parseTcpSpec, parseTlsSpec, parseTunnelPolicy } from './tunnels.js';
