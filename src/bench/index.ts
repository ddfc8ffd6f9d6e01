/** What `relay bench` measures with: its target servers, the measurements, and the ClientHello its SNI route sends. */
export { startTargets, type Targets } from './targets.js';
export { bulk, pingpong, connRate, idleMemory, type Route } from './measure.js';
export { buildClientHello } from './client-hello.js';
