import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { freePort } from '../net/index.js';

/** The OpenSSH ciphers `relay bench --vs ssh` measures, each one column, in this order. */
export const SSH_CIPHERS = ['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com'] as const;
export type SshCipher = typeof SSH_CIPHERS[number];

/** What `relay bench --vs ssh` prints when OpenSSH is not installed. */
export const OPENSSH_MISSING = 'needs OpenSSH\'s sshd and ssh (Debian: apt-get install -y openssh-server openssh-client)';

/** Where the OpenSSH programs are. */
interface OpenSsh { sshd: string; ssh: string; sshKeygen: string }

function executable(file: string): boolean {
  try { accessSync(file, constants.X_OK); return true; } catch { return false; }
}

function onPath(name: string, path: string): string | null {
  for (const dir of path.split(delimiter)) if (dir && executable(join(dir, name))) return join(dir, name);
  return null;
}

/**
 * Finds ssh and ssh-keygen on PATH, and sshd on PATH or, since sbin is often not on a user's PATH,
 * in the sbin beside the bin ssh was found in (/usr/bin/ssh → /usr/sbin/sshd, also Homebrew's).
 * Null when any is missing. sshd's path is absolute, as sshd requires to re-execute itself.
 */
export function findOpenSsh(path = process.env.PATH ?? ''): OpenSsh | null {
  const ssh = onPath('ssh', path);
  const sshKeygen = onPath('ssh-keygen', path);
  if (!ssh || !sshKeygen) return null;
  const beside = join(dirname(dirname(ssh)), 'sbin', 'sshd');
  const sshd = onPath('sshd', path) ?? (executable(beside) ? beside : null);
  if (!sshd) return null;
  return { sshd: sshd.startsWith('/') ? sshd : join(process.cwd(), sshd), ssh, sshKeygen };
}

/** A child whose stderr is kept (its first lines, for error messages) and whose exit is known. */
class Proc {
  readonly proc: ChildProcess;
  stderr = '';
  exited = false;
  private readonly watchers = new Set<(line: string | null) => void>();
  constructor(file: string, args: string[]) {
    this.proc = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.on('error', (e) => { this.stderr += `${e.message}\n`; });
    let partial = '';
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (this.stderr.length < 4096) this.stderr += d;
      partial += d;
      for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n')) {
        const line = partial.slice(0, nl); partial = partial.slice(nl + 1);
        for (const w of this.watchers) w(line);
      }
      if (partial.length > 4096) partial = '';
    });
    this.proc.once('close', () => { this.exited = true; for (const w of this.watchers) w(null); });
  }
  /** The first lines of stderr, for a message. */
  head(lines = 5): string {
    return this.stderr.split('\n').filter(Boolean).slice(0, lines).join('; ') || '(nothing on stderr)';
  }
  /** Resolves on the first stderr line matching `re`; rejects when the process exits first or after `ms`. */
  waitLine(re: RegExp, what: string, ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { done(); reject(new Error(`${what}: no sign of life in ${ms / 1000} s: ${this.head()}`)); }, ms);
      const done = () => { clearTimeout(timer); this.watchers.delete(watch); };
      const watch = (line: string | null) => {
        if (line === null) { done(); reject(new Error(`${what}: exited (${this.proc.exitCode ?? this.proc.signalCode}): ${this.head()}`)); } else if (re.test(line)) { done(); resolve(); }
      };
      if (this.exited) { watch(null); return; }
      this.watchers.add(watch);
    });
  }
  kill(): void { if (!this.exited) this.proc.kill('SIGKILL'); }
}

/** Whether something accepts on 127.0.0.1:`port` now. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { s.destroy(); resolve(false); });
  });
}

/**
 * Waits until `port` accepts, trying again after each refusal (sshd binds the forwarded port only
 * once the client has authenticated and asked for it), as long as `client` lives, up to `ms`.
 */
async function forwardReady(port: number, client: Proc, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  let retry = 5;
  for (;;) {
    if (client.exited) throw new Error(`${what}: exited (${client.proc.exitCode ?? client.proc.signalCode}): ${client.head()}`);
    if (await accepts(port)) return;
    if (Date.now() > deadline) throw new Error(`${what}: port ${port} did not accept within ${ms / 1000} s: ${client.head()}`);
    await new Promise((r) => setTimeout(r, retry));
    retry = Math.min(retry * 2, 100);
  }
}

/** The pids below `pid` (Linux /proc), deepest last; empty where /proc is not. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      for (const c of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number)) {
        out.push(c, ...descendants(c));
      }
    }
  } catch { /* not Linux, or gone */ }
  return out;
}

/** A running private sshd on loopback with `ssh -R` clients, one per forwarded target and cipher. */
export interface SshTunnels {
  /** The forwarded port on 127.0.0.1 that leads to `targetPort` over `cipher`. */
  port(cipher: SshCipher, targetPort: number): number;
  /** The sshd processes now: the listener and those serving the clients (memory deltas are summed over them). */
  serverPids(): number[];
  /** The ssh client processes of `cipher`. */
  clientPids(cipher: SshCipher): number[];
  /** Kills every process and removes the temporary directory; synchronous, so a signal handler may call it. */
  close(): void;
}

/**
 * Starts OpenSSH on loopback as `ssh -R` reverse tunnels to `targetPorts`, as the current user: a
 * private sshd (fresh host key, fresh client key, everything in a 0700 temporary directory,
 * 127.0.0.1 only, public-key login only), then per cipher and target port one
 * `ssh -N -R 127.0.0.1:P:127.0.0.1:TARGET`, and resolves once every forwarded port accepts. On any
 * failure everything started is stopped and the directory removed before the promise rejects.
 */
export async function startSshTunnels(openSsh: OpenSsh, targetPorts: number[], ciphers: readonly SshCipher[] = SSH_CIPHERS): Promise<SshTunnels> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-ssh-'));
  chmodSync(dir, 0o700);
  const procs: Proc[] = [];
  const close = () => {
    for (const p of procs) p.kill();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const keygen = (name: string) => {
      execFileSync(openSsh.sshKeygen, ['-t', 'ed25519', '-N', '', '-q', '-C', 'relay-bench', '-f', join(dir, name)], { stdio: ['ignore', 'ignore', 'pipe'] });
      chmodSync(join(dir, name), 0o600);
    };
    keygen('host_key');
    keygen('client_key');
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')), { mode: 0o600 });
    const sshdPort = await freePort();
    writeFileSync(join(dir, 'sshd_config'), [
      'ListenAddress 127.0.0.1', `Port ${sshdPort}`, `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`, 'StrictModes no', `PidFile ${join(dir, 'sshd.pid')}`,
      'PubkeyAuthentication yes', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no',
      'PermitRootLogin prohibit-password', 'AllowTcpForwarding yes', 'GatewayPorts no', 'X11Forwarding no',
      'UseDNS no', 'PrintMotd no', 'ClientAliveInterval 0', '',
    ].join('\n'), { mode: 0o600 });
    // Run as root, sshd insists on its privilege separation directory (Debian makes it at boot only).
    if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const sshd = new Proc(openSsh.sshd, ['-D', '-e', '-f', join(dir, 'sshd_config')]);
    procs.push(sshd);
    await sshd.waitLine(/^Server listening on /, `sshd (${openSsh.sshd}) did not start`, 10_000);

    const user = userInfo().username;
    const forwards = new Map<string, number>();
    const clients = new Map<SshCipher, Proc[]>();
    const starting: Array<Promise<void>> = [];
    for (const cipher of ciphers) {
      clients.set(cipher, []);
      for (const target of targetPorts) {
        const port = await freePort();
        forwards.set(`${cipher} ${target}`, port);
        const client = new Proc(openSsh.ssh, ['-F', '/dev/null', '-N', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
          '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ExitOnForwardFailure=yes', '-o', 'LogLevel=ERROR', '-o', 'IdentitiesOnly=yes',
          '-o', 'IdentityAgent=none', '-o', 'ControlPath=none', '-o', `Ciphers=${cipher}`, '-i', join(dir, 'client_key'), '-p', String(sshdPort),
          '-R', `127.0.0.1:${port}:127.0.0.1:${target}`, `${user}@127.0.0.1`]);
        procs.push(client);
        clients.get(cipher)!.push(client);
        starting.push(forwardReady(port, client, `ssh -R (${cipher})`, 15_000));
      }
    }
    await Promise.all(starting);
    const sshdPid = sshd.proc.pid!;
    return {
      port: (cipher, targetPort) => {
        const p = forwards.get(`${cipher} ${targetPort}`);
        if (p === undefined) throw new Error(`no ssh forward for ${cipher} to port ${targetPort}`);
        return p;
      },
      serverPids: () => [sshdPid, ...descendants(sshdPid)],
      clientPids: (cipher) => clients.get(cipher)!.map((c) => c.proc.pid!),
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
}
