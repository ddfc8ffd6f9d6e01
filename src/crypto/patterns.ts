/**
 * Handshake patterns as data (Noise §7): each is pre-messages plus message patterns, written as
 * in the spec. The handshake runs them all through one code path (handshake-state.ts).
 */
export type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss';

export interface HandshakePattern {
  readonly name: string;
  /** Pre-message tokens the initiator's / the responder's static or ephemeral keys are known by (Noise §7.1). */
  readonly initiatorPre: readonly Token[];
  readonly responderPre: readonly Token[];
  /** Message patterns in order; even indices are sent by the initiator. */
  readonly messages: readonly (readonly Token[])[];
}

// Compact notation: `pre` is "-> s | <- s", messages separated by ";", tokens by ",".
// The text is the spec's, so a pattern can be checked against Noise §7.4, §7.5 and §18 by eye.
const SPEC: Record<string, string> = {
  // §7.4 one-way
  N: '<- s ... -> e, es',
  K: '-> s | <- s ... -> e, es, ss',
  X: '<- s ... -> e, es, s, ss',
  // §7.5 interactive
  NN: '-> e; <- e, ee',
  NK: '<- s ... -> e, es; <- e, ee',
  NX: '-> e; <- e, ee, s, es',
  XN: '-> e; <- e, ee; -> s, se',
  XK: '<- s ... -> e, es; <- e, ee; -> s, se',
  XX: '-> e; <- e, ee, s, es; -> s, se',
  KN: '-> s ... -> e; <- e, ee, se',
  KK: '-> s | <- s ... -> e, es, ss; <- e, ee, se',
  KX: '-> s ... -> e; <- e, ee, se, s, es',
  IN: '-> e, s; <- e, ee, se',
  IK: '<- s ... -> e, es, s, ss; <- e, ee, se',
  IX: '-> e, s; <- e, ee, se, s, es',
  // §18.2 deferred
  NK1: '<- s ... -> e; <- e, ee, es',
  NX1: '-> e; <- e, ee, s; -> es',
  X1N: '-> e; <- e, ee; -> s; <- se',
  X1K: '<- s ... -> e, es; <- e, ee; -> s; <- se',
  XK1: '<- s ... -> e; <- e, ee, es; -> s, se',
  X1K1: '<- s ... -> e; <- e, ee, es; -> s; <- se',
  X1X: '-> e; <- e, ee, s, es; -> s; <- se',
  XX1: '-> e; <- e, ee, s; -> es, s, se',
  X1X1: '-> e; <- e, ee, s; -> es, s; <- se',
  K1N: '-> s ... -> e; <- e, ee; -> se',
  K1K: '-> s | <- s ... -> e, es; <- e, ee; -> se',
  KK1: '-> s | <- s ... -> e; <- e, ee, se, es',
  K1K1: '-> s | <- s ... -> e; <- e, ee, es; -> se',
  K1X: '-> s ... -> e; <- e, ee, s, es; -> se',
  KX1: '-> s ... -> e; <- e, ee, se, s; -> es',
  K1X1: '-> s ... -> e; <- e, ee, s; -> se, es',
  I1N: '-> e, s; <- e, ee; -> se',
  I1K: '<- s ... -> e, es, s; <- e, ee; -> se',
  IK1: '<- s ... -> e, s; <- e, ee, se, es',
  I1K1: '<- s ... -> e, s; <- e, ee, es; -> se',
  I1X: '-> e, s; <- e, ee, s, es; -> se',
  IX1: '-> e, s; <- e, ee, se, s; -> es',
  I1X1: '-> e, s; <- e, ee, s; -> se, es',
};

const TOKENS = new Set<string>(['e', 's', 'ee', 'es', 'se', 'ss']);

function parse(name: string, text: string): HandshakePattern {
  const [pre, body] = text.includes('...') ? text.split('...') : ['', text];
  const initiatorPre: Token[] = [];
  const responderPre: Token[] = [];
  for (const line of pre.split('|').map((l) => l.trim()).filter(Boolean)) {
    const [dir, ...rest] = line.split(/\s+/);
    (dir === '->' ? initiatorPre : responderPre).push(...tokens(rest.join(' ')));
  }
  const messages = body.split(';').map((m, i) => {
    const [dir, ...rest] = m.trim().split(/\s+/);
    if (dir !== (i % 2 === 0 ? '->' : '<-')) throw new Error(`pattern ${name}: message ${i} has the wrong direction`);
    return tokens(rest.join(' '));
  });
  return { name, initiatorPre, responderPre, messages };
}

function tokens(s: string): Token[] {
  return s.split(',').map((t) => t.trim()).filter(Boolean).map((t) => {
    if (!TOKENS.has(t)) throw new Error(`unknown token ${t}`);
    return t as Token;
  });
}

/** Every pattern this implementation runs, by name (`IK`, `XX`, …). */
export const PATTERNS: ReadonlyMap<string, HandshakePattern> = new Map(Object.entries(SPEC).map(([n, t]) => [n, parse(n, t)]));

/** One-way patterns (Noise §7.4): a single message, and only the initiator→responder CipherState is used. */
export function isOneWay(p: HandshakePattern): boolean {
  return p.messages.length === 1 && p.name.length === 1;
}
