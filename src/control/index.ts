/**
 * The control stream between agent and relay: its messages (one protocol file, validated on both
 * sides) and the register exchange written as two mirrored halves, relay-side and agent-side.
 */
export { CONTROL_TUNNEL_ID, MAX_TUNNELS_PER_AGENT, TUNNEL_ERROR_CODES, type TunnelRefusal, type TunnelRequest, type TunnelResult, type WorkerInfo, MAX_TUNNEL_CIDRS } from './messages.js';
export { answerRegister } from './relay-side.js';
export type { ControlStream } from './control-stream.js';
export { requestRegister } from './agent-side.js';
