/**
 * The public side: listeners for customers (TLS routed by SNI, TCP tunnel ports), for agents
 * (Noise) and for the operator (admin HTTP), and the registry of which agent serves what.
 */
export { RelayServer, type ReloadableOptions } from './server.js';
export { checkRelaySettings, diffGrants, loadRelayConfig, type RelayFileConfig } from './config.js';
export { runPrimary } from './cluster/primary.js';
export { LeaseClient } from './cluster/lease-client.js';
export { WORKER_ENV, type PrimaryMessage } from './cluster/messages.js';
