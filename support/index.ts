// support/ is what tests and benchmarks share and the product never imports: loopback channel pairs (Noise, and a plaintext channel for tests only), the multiplex frame oracle, a fault proxy and the soak.
export { channelPair, plaintextChannelPair, type ChannelPair } from './channel-pair.js';
export { oracleDecode, oracleEncode, oracleMeta, oracleOpenPayload, u32, type OracleFrame } from './frame-oracle.js';
export { FaultProxy } from './fault-proxy.js';
export { soak } from './soak.js';
