// support/ is what tests and benchmarks share and the product never imports: loopback channel pairs (Noise, and a plaintext channel for tests only) and the multiplex frame oracle.
export { channelPair, plaintextChannelPair, type ChannelPair } from './channel-pair.js';
export { oracleDecode, oracleEncode, oracleMeta, oracleOpenPayload, u32, type OracleFrame } from './frame-oracle.js';
