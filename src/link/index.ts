/**
 * The agent↔relay link and the sockets at its ends, as both sides (and the warm-up, `relay bench`
 * and the tests) set them up: link socket buffers, and a stream spliced onto a dialed target.
 */
export { createLinkServer, createLinkSocket } from './socket.js';
export { dialAndSplice } from './dial.js';
