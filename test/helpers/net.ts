import type net from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, X509Certificate } from 'node:crypto';

export { freePort } from '../../src/net/free-port.js';

/** Listens on 127.0.0.1:0 and resolves with the port. */
export function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

export interface TestCert { dir: string; keyPath: string; certPath: string; key: Buffer; cert: Buffer; fingerprint256: string }

/** A self-signed certificate for `names` made by the openssl command-line tool. */
export function makeCert(names: string[]): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'relay-cert-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
    '-keyout', keyPath, '-out', certPath], { stdio: 'ignore' });
  const cert = readFileSync(certPath);
  return { dir, keyPath, certPath, key: readFileSync(keyPath), cert, fingerprint256: new X509Certificate(cert).fingerprint256 };
}

export function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}
