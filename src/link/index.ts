/**
 * The agent↔relay link and the sockets at its ends, as both sides (and the warm-up, `relay bench`
 * and the tests) set them up: link socket buffers, and a stream spliced onto a dialed target.
 */
export { LINK_READ_BUFFER, LINK_WRITE_BUFFER, createLinkServer, createLinkSocket } from './socket.js';
export { dialAndSplice, type DialOptions } from './dial.js';
