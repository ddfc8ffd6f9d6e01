// Every cacophony vector for Curve25519 without PSK (38 patterns × 2 ciphers × 4 hashes), on
// every backend (the native addon's and sodium's ciphers included). Mismatches print expected and actual hex.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { HandshakeState, PATTERNS, isOneWay, parseProtocolName, type CipherState } from '../../src/crypto/index.js';

interface Vector {
  protocol_name: string;
  init_prologue: string; init_ephemeral: string; init_static?: string; init_remote_static?: string;
  resp_prologue: string; resp_ephemeral?: string; resp_static?: string; resp_remote_static?: string;
  handshake_hash: string;
  messages: { payload: string; ciphertext: string }[];
}

const { vectors } = JSON.parse(readFileSync(new URL('../fixtures/crypto/cacophony-25519.json', import.meta.url), 'utf8')) as { vectors: Vector[] };
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bin = (h: string | undefined) => (h === undefined ? undefined : Buffer.from(h, 'hex'));

t.equal(vectors.length, 304, 'the fixture holds every 25519 non-PSK vector');
t.equal(new Set(vectors.map((v) => parseProtocolName(v.protocol_name).pattern.name)).size, PATTERNS.size, 'every supported pattern has vectors');

for (const backend of ['node', 'noble', 'sodium', 'native'] as const) {
  t.test(`cacophony vectors, ${backend} backend`, async (t) => {
    for (const v of vectors) {
      const name = v.protocol_name;
      const init = new HandshakeState({
        protocolName: name, initiator: true, prologue: bin(v.init_prologue)!, s: bin(v.init_static),
        e: bin(v.init_ephemeral), rs: bin(v.init_remote_static), backend,
      });
      const resp = new HandshakeState({
        protocolName: name, initiator: false, prologue: bin(v.resp_prologue)!, s: bin(v.resp_static),
        e: bin(v.resp_ephemeral), rs: bin(v.resp_remote_static), backend,
      });
      const oneWay = isOneWay(parseProtocolName(name).pattern);
      let transport: { i2r: [CipherState, CipherState]; r2i: [CipherState, CipherState] } | null = null;
      let ok = true;
      v.messages.forEach((m, i) => {
        const fromInit = oneWay || i % 2 === 0;
        let ct: Uint8Array; let pt: Uint8Array;
        if (!transport) {
          const [w, r] = fromInit ? [init, resp] : [resp, init];
          ct = w.writeMessage(bin(m.payload)!);
          pt = r.readMessage(ct);
          if (init.isHandshakeComplete() !== resp.isHandshakeComplete()) { ok = false; t.fail(`${name}: sides disagree on completion`); }
          if (init.isHandshakeComplete()) {
            ok = t.equal(hex(init.getHandshakeHash()), v.handshake_hash, `${name} handshake hash`) && ok;
            ok = t.equal(hex(resp.getHandshakeHash()), v.handshake_hash, `${name} responder handshake hash`) && ok;
            const [ic1, ic2] = init.split(); const [rc1, rc2] = resp.split();
            transport = { i2r: [ic1, rc1], r2i: [rc2, ic2] };
          }
        } else {
          const [send, recv] = fromInit ? transport.i2r : transport.r2i;
          ct = send.encryptWithAd(new Uint8Array(0), bin(m.payload)!);
          pt = recv.decryptWithAd(new Uint8Array(0), ct);
        }
        if (hex(ct) !== m.ciphertext) ok = t.equal(hex(ct), m.ciphertext, `${name} message ${i} ciphertext`);
        if (hex(pt) !== m.payload) ok = t.equal(hex(pt), m.payload, `${name} message ${i} payload`);
      });
      if (!transport) { ok = false; t.fail(`${name}: handshake never completed`); }
      if (ok) t.pass(name);
    }
  });
}
