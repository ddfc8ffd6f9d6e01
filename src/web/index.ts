/**
 * The small web pieces both ends' pages stand on: the static assets (the relay's dashboard, the
 * agent's inspector) served with a strict Content-Security-Policy, and one Server-Sent Events
 * stream per page with bounded clients and bounded backlogs. Read-only: nothing here dials or
 * changes anything.
 */
export { StaticAssets, securityHeaders } from './static.js';
export { EventHub } from './events.js';
export { SampleRing } from './samples.js';
