// What the deploy/ tests share: the files under deploy/ read as their tools read them (YAML as
// Kubernetes does, unit files as systemd does, a Dockerfile's instructions), and the `relay`
// command's own flags, taken from its --help.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DEPLOY = join(ROOT, 'deploy');
/** The built CLI (npm test builds first: `pretest`). */
const RELAY_BIN = join(ROOT, 'dist/cli/index.js');

export const read = (rel: string): string => readFileSync(join(ROOT, rel), 'utf8');

/** A Kubernetes object: the fields the tests read, typed as the API defines them. */
export interface K8sObject {
  apiVersion: string; kind: string;
  metadata?: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: unknown; data?: Record<string, string>; resources?: string[];
}
interface ServicePort { name?: string; port: number; targetPort?: number | string; protocol?: string }
export interface ServiceSpec { type?: string; clusterIP?: string; externalTrafficPolicy?: string; selector?: Record<string, string>; ports: ServicePort[] }
interface Probe { httpGet?: { path: string; port: number | string }; periodSeconds?: number; failureThreshold?: number; initialDelaySeconds?: number }
interface SecurityContext {
  allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; runAsNonRoot?: boolean; privileged?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
}
export interface Container {
  name: string; image: string; command?: string[]; args?: string[];
  env?: {
    name: string; value?: string;
    valueFrom?: {
      configMapKeyRef?: { name: string; key: string }; secretKeyRef?: { name: string; key: string };
      resourceFieldRef?: { containerName?: string; resource: string; divisor?: string };
    };
  }[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  readinessProbe?: Probe; livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface Volume {
  name: string;
  secret?: { secretName: string; defaultMode?: number; items?: { key: string; path: string }[] };
  configMap?: { name: string; items?: { key: string; path: string }[] };
  emptyDir?: { medium?: string; sizeLimit?: string };
}
export interface PodSpec {
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number; fsGroup?: number; seccompProfile?: { type: string }; sysctls?: { name: string; value: string }[] };
  initContainers?: Container[]; containers: Container[]; volumes?: Volume[];
}
export interface WorkloadSpec {
  replicas?: number; serviceName?: string; strategy?: { type: string };
  selector: { matchLabels: Record<string, string> };
  template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
}
export interface PdbSpec { maxUnavailable?: number; minAvailable?: number; selector: { matchLabels: Record<string, string> } }

/**
 * Every YAML document of every file in deploy/k8s, by file. Kubernetes reads manifests as
 * YAML 1.1 (sigs.k8s.io/yaml), where `0400` is octal: parsed the same way here, so that a mode
 * means what the kubelet will take it to mean.
 */
export function k8sManifests(): Map<string, K8sObject[]> {
  const out = new Map<string, K8sObject[]>();
  for (const name of readdirSync(join(DEPLOY, 'k8s')).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    const docs = parseAllDocuments(readFileSync(join(DEPLOY, 'k8s', name), 'utf8'), { version: '1.1' });
    const list = Array.isArray(docs) ? docs : [docs];
    for (const d of list) if (d.errors.length > 0) throw new Error(`deploy/k8s/${name}: ${d.errors.map((e) => e.message).join('; ')}`);
    out.set(name, list.map((d) => d.toJS() as K8sObject).filter((o) => o !== null));
  }
  return out;
}

/** The one object of `kind` named `name` (or the only one of that kind), wherever it is. */
export function findObject(all: Map<string, K8sObject[]>, kind: string, name?: string): K8sObject {
  const hits = [...all.values()].flat().filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (hits.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${hits.length}`);
  return hits[0];
}

/** A systemd unit file: section → key → every value it is given, in order (a key may repeat). */
export type Unit = Map<string, Map<string, string[]>>;

/** Parses a unit file as systemd does: comments, sections, `Key=value`, backslash continuations. */
export function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const head = /^\[([^\]]+)\]$/.exec(line);
    if (head) {
      if (unit.has(head[1])) throw new Error(`line ${i + 1}: section [${head[1]}] twice`);
      section = new Map();
      unit.set(head[1], section);
      return;
    }
    const kv = /^([A-Za-z][A-Za-z0-9]*)\s*=\s*(.*)$/.exec(line);
    if (!kv || !section) throw new Error(`line ${i + 1}: not a Key=value line in a section: ${JSON.stringify(line)}`);
    const values = section.get(kv[1]) ?? [];
    values.push(kv[2]);
    section.set(kv[1], values);
  });
  return unit;
}

/** A Dockerfile's instructions (continuations joined), in order, each split into its stage. */
export interface Instruction { stage: number; op: string; args: string }
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  const joined = text.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n').replace(/\\\n/g, ' ');
  for (const line of joined.split('\n')) {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1].toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ stage, op, args: m[2].trim() });
  }
  return out;
}

/** A flag of a `relay` subcommand, from its --help: whether it takes a value. */
export interface Flag { name: string; takesValue: boolean }

/** The flags `relay SUB --help` lists (commander's layout: two spaces, then the flag). */
export function relayFlags(sub: 'serve' | 'agent'): Map<string, Flag> {
  const help = execFileSync(process.execPath, [RELAY_BIN, sub, '--help'], { encoding: 'utf8' });
  const flags = new Map<string, Flag>();
  for (const m of help.matchAll(/^ {2}(?:-\w, )?(--[a-z0-9][a-z0-9-]*)( <[^>]+>| \[[^\]]+\])?/gm)) {
    flags.set(m[1], { name: m[1], takesValue: m[2] !== undefined });
  }
  if (flags.size < 5) throw new Error(`relay ${sub} --help: too few flags found, has its layout changed?\n${help}`);
  return flags;
}

/**
 * Checks a `relay SUB …` argument list (without SUB) against its flags: every flag exists,
 * a flag that takes a value has one, a switch has none, and nothing else is on the line.
 * Returns the problems (none: the line is one `relay` accepts), and the values by flag.
 */
export function checkRelayArgs(args: readonly string[], flags: Map<string, Flag>): { problems: string[]; values: Map<string, string[]> } {
  const problems: string[] = [];
  const values = new Map<string, string[]>();
  for (let i = 0; i < args.length; i++) {
    const tok = args[i];
    if (!tok.startsWith('--')) { problems.push(`${JSON.stringify(tok)} is not a flag (relay takes no positional argument here)`); continue; }
    const eq = tok.indexOf('=');
    const name = eq < 0 ? tok : tok.slice(0, eq);
    const flag = flags.get(name);
    if (!flag) { problems.push(`${name} is not a flag of this command`); continue; }
    let value: string | undefined;
    if (eq >= 0) value = tok.slice(eq + 1);
    else if (flag.takesValue) {
      value = args[++i];
      if (value === undefined || value.startsWith('--')) problems.push(`${name} needs a value`);
    }
    if (!flag.takesValue && value !== undefined) problems.push(`${name} takes no value`);
    values.set(name, [...(values.get(name) ?? []), value ?? 'true']);
  }
  return { problems, values };
}

/**
 * With --workers, how long after drain_timeout_ms the primary waits before it kills a worker
 * still draining (src/relay/cluster/primary.ts, `drainTimeoutMs + 5_000`): a stop must allow it.
 */
export const WORKER_KILL_MARGIN_S = 5;

/** The port of a `HOST:PORT` listener text. */
export function portOfListener(text: string): number {
  const m = /:(\d+)$/.exec(text);
  if (!m) throw new Error(`no port in ${JSON.stringify(text)}`);
  return Number(m[1]);
}
