/**
 * What `relay bench` measures with: its target servers, the measurements, the ClientHello its SNI
 * route sends, and OpenSSH `ssh -R` tunnels started on loopback as a baseline (`--vs ssh`).
 */
export { startTargets, type Targets } from './targets.js';
export { bulk, pingpong, connRate, idleMemory, type Route } from './measure.js';
export { buildClientHello } from './client-hello.js';
export { startSshTunnels, findOpenSsh, SSH_CIPHERS, OPENSSH_MISSING, type SshCipher, type SshTunnels } from './ssh-tunnel.js';
