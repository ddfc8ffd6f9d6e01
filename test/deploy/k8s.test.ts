// deploy/k8s: what can be checked without a cluster. The manifests parse as Kubernetes reads
// them; the ports, names and paths that tie them together agree with each other, with the
// relay.toml they carry (which the relay's own parser accepts) and with the image; every
// `relay` flag in them is one `relay --help` lists. Change a port, a name or a path in one file
// and a test here names the disagreement.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseRelayConfig, type RelayFileConfig } from '../../src/relay/config.js';
import { parseTlsSpec } from '../../src/agent/tunnels.js';
import {
  DEPLOY, WORKER_KILL_MARGIN_S, checkRelayArgs, findObject, k8sManifests, parseDockerfile, portOfListener, read, relayFlags,
  type Container, type PdbSpec, type PodSpec, type ServiceSpec, type WorkloadSpec,
} from './files.js';

const all = k8sManifests();
const statefulSet = findObject(all, 'StatefulSet', 'relay');
const sts = statefulSet.spec as WorkloadSpec;
const pod: PodSpec = sts.template.spec;
const relayContainer = pod.containers.find((c) => c.name === 'relay')!;
const headless = findObject(all, 'Service', 'relay-agents');
const headlessSpec = headless.spec as ServiceSpec;
const publicSpec = findObject(all, 'Service', 'relay-public').spec as ServiceSpec;
const agentDeployment = findObject(all, 'Deployment');
const agentPod: PodSpec = (agentDeployment.spec as WorkloadSpec).template.spec;
const relayToml = findObject(all, 'ConfigMap', 'relay-config').data!['relay.toml'];
const config: RelayFileConfig = parseRelayConfig(relayToml, 'deploy/k8s/relay-config.yaml relay.toml');

/** The number a container port name (or number) stands for in `c`. */
function containerPort(c: Container, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return c.ports?.find((p) => p.name === port)?.containerPort;
}
const portNamed = (name: string): number | undefined => containerPort(relayContainer, name);

t.test('every manifest parses, each object of the kind and apiVersion expected, and nothing else', async (t) => {
  const expected: Record<string, string[]> = {
    'agent-deployment.yaml': ['apps/v1 Deployment'],
    'kustomization.yaml': ['kustomize.config.k8s.io/v1beta1 Kustomization'],
    'namespace.yaml': ['v1 Namespace'],
    'relay-config.yaml': ['v1 ConfigMap'],
    'relay-pdb.yaml': ['policy/v1 PodDisruptionBudget'],
    'relay-services.yaml': ['v1 Service', 'v1 Service'],
    'relay-statefulset.yaml': ['apps/v1 StatefulSet'],
  };
  t.same([...all.keys()], Object.keys(expected), 'the files in deploy/k8s (a new one is added to this table)');
  for (const [file, objects] of all) t.same(objects.map((o) => `${o.apiVersion} ${o.kind}`), expected[file], file);
});

const kubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

t.test('the kustomization lists every relay manifest; kubectl renders it when it is here', async (t) => {
  const k = all.get('kustomization.yaml')![0];
  const relayFiles = [...all.keys()].filter((f) => f !== 'kustomization.yaml' && f !== 'agent-deployment.yaml');
  t.same([...(k.resources ?? [])].sort(), relayFiles.sort(), 'every manifest but the agent example');
  const namespaced = [...all.entries()].filter(([f]) => relayFiles.includes(f)).flatMap(([, os]) => os).filter((o) => o.kind !== 'Namespace');
  const ns = findObject(all, 'Namespace').metadata!.name;
  for (const o of namespaced) t.equal(o.metadata?.namespace, ns, `${o.kind} ${o.metadata?.name} is in namespace ${ns}`);
});

t.test('kubectl kustomize renders every relay object', { skip: kubectl ? false : 'kubectl is not installed here' }, async (t) => {
  const out = execFileSync('kubectl', ['kustomize', join(DEPLOY, 'k8s')], { encoding: 'utf8' });
  const expected = [...all.entries()].filter(([f]) => f !== 'kustomization.yaml' && f !== 'agent-deployment.yaml').flatMap(([, os]) => os);
  t.same((out.match(/^kind: \S+/gm) ?? []).sort(), expected.map((o) => `kind: ${o.kind}`).sort());
});

t.test("relay.toml in the ConfigMap is accepted by the relay's own parser, with what a pod needs", async (t) => {
  t.ok(config.tlsListen && config.agentListen && config.adminListen, 'all three listeners are set');
  t.not(config.adminListen!.split(':')[0], '127.0.0.1', 'the admin listener is reachable by the kubelet\'s probes');
  t.ok(config.adminTokenFile, 'an admin listener off loopback needs admin_token_file (the relay refuses to start without it)');
  t.ok(config.key, 'the key is given (no key made at start on a read-only file system)');
  t.ok(config.tcpPorts, 'TCP tunnel ports are set');
  t.ok(config.proxyProtocolFrom.has('10.0.0.1'), 'proxy_protocol_from lists the balancer\'s network');
  t.notOk(config.proxyProtocolFrom.has('198.51.100.1'), 'and not the whole Internet');
  t.equal(config.allowAnyAgent, undefined, 'no allow_any_agent in a production config');
});

t.test('ports agree: relay.toml listeners, container ports, both Services, the probes and the image', async (t) => {
  const tls = portOfListener(config.tlsListen!);
  const agent = portOfListener(config.agentListen!);
  const admin = portOfListener(config.adminListen!);
  t.equal(portNamed('tls'), tls, 'containerPort "tls" is tls_listen\'s');
  t.equal(portNamed('agent'), agent, 'containerPort "agent" is agent_listen\'s');
  t.equal(portNamed('admin'), admin, 'containerPort "admin" is admin_listen\'s');

  t.equal(headlessSpec.clusterIP, 'None', 'relay-agents is headless: one DNS address per pod');
  t.equal(headlessSpec.ports.length, 1);
  t.equal(headlessSpec.ports[0].port, agent, 'relay-agents\' port is the agent port (agents dial pods directly on it)');
  t.equal(containerPort(relayContainer, headlessSpec.ports[0].targetPort), agent, 'and its targetPort resolves to it');

  t.equal(publicSpec.type, 'LoadBalancer');
  t.equal(publicSpec.externalTrafficPolicy, 'Local', 'the balancer\'s source address reaches the pod unchanged');
  const tlsPort = publicSpec.ports.find((p) => p.name === 'tls')!;
  t.equal(tlsPort.port, 443, 'the public TLS port is 443');
  t.equal(containerPort(relayContainer, tlsPort.targetPort), tls, 'and reaches tls_listen');
  const range = config.tcpPorts!.split('-').map(Number);
  const wanted: number[] = [];
  for (let p = range[0]; p <= (range[1] ?? range[0]); p++) wanted.push(p);
  const tcp = publicSpec.ports.filter((p) => p !== tlsPort);
  t.same(tcp.map((p) => p.port), wanted, 'relay-public lists exactly tcp_ports, one by one');
  t.same(tcp.map((p) => p.targetPort), wanted, 'each to the same port on the pod (the agent is told that number)');
  t.same((relayContainer.ports ?? []).filter((p) => p.name?.startsWith('tcp-')).map((p) => p.containerPort), wanted, 'the container declares the same ports');
  for (const p of [...publicSpec.ports, ...headlessSpec.ports, ...(relayContainer.ports ?? [])]) {
    t.ok(p.name === undefined || /^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/.test(p.name), `port name ${p.name} is a valid IANA service name (at most 15 characters)`);
  }

  for (const probe of [relayContainer.readinessProbe, relayContainer.livenessProbe]) {
    t.equal(probe?.httpGet?.path, '/healthz', 'probes read /healthz (open without the token)');
    t.equal(containerPort(relayContainer, probe?.httpGet?.port), admin, 'on the admin listener');
  }

  const expose = parseDockerfile(read('deploy/Dockerfile')).filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
  t.same(expose, [`${tls}/tcp`, `${agent}/tcp`, `${admin}/tcp`, `${config.tcpPorts}/tcp`], 'the image EXPOSEs the same ports');
});

t.test('selectors find the relay pods; the StatefulSet is governed by the headless Service', async (t) => {
  const labels = sts.template.metadata.labels;
  const within = (sel: Record<string, string> | undefined) => sel !== undefined && Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => labels[k] === v);
  t.ok(within(sts.selector.matchLabels), 'StatefulSet selector');
  t.ok(within(headlessSpec.selector), 'relay-agents selector');
  t.ok(within(publicSpec.selector), 'relay-public selector');
  t.ok(within((findObject(all, 'PodDisruptionBudget').spec as PdbSpec).selector.matchLabels), 'PodDisruptionBudget selector');
  t.equal(sts.serviceName, headless.metadata!.name, 'serviceName is relay-agents');
  t.equal(sts.replicas, 3);
  t.equal((findObject(all, 'PodDisruptionBudget').spec as PdbSpec).maxUnavailable, 1, 'one relay down at a time, of three');
  const agentSpec = agentDeployment.spec as WorkloadSpec;
  t.ok(Object.entries(agentSpec.selector.matchLabels).every(([k, v]) => agentSpec.template.metadata.labels[k] === v), 'agent Deployment selector');
});

t.test('the key and token reach the relay as 0400 files owned by its user, where relay.toml names them', async (t) => {
  const uid = /^USER\s+(\d+)/m.exec(read('deploy/Dockerfile'))?.[1];
  t.equal(pod.securityContext?.runAsUser, Number(uid), 'the pod runs as the image\'s user');
  t.equal(pod.securityContext?.fsGroup, Number(uid), 'fsGroup lets that user read the Secret (0440 with fsGroup)');
  const secretVolume = pod.volumes!.find((v) => v.secret)!;
  t.equal(secretVolume.secret!.defaultMode, 0o400, 'the Secret is mounted 0400 (octal, as YAML 1.1 reads 0400)');
  const init = pod.initContainers!.find((c) => c.command?.[0] === 'install')!;
  t.ok(init, 'an init container copies the Secret');
  t.same(init.command!.slice(0, 3), ['install', '-m', '0400'], 'as 0400 files: the relay refuses group-readable ones');
  const secretMount = init.volumeMounts!.find((m) => m.name === secretVolume.name)!.mountPath;
  const sources = init.command!.slice(3, -1);
  t.same(sources, secretVolume.secret!.items!.map((i) => `${secretMount}/${i.path}`), 'from the Secret\'s files');
  const dest = init.command!.at(-1)!.replace(/\/$/, '');
  const keysVolume = init.volumeMounts!.find((m) => m.mountPath === dest)!.name;
  t.equal(pod.volumes!.find((v) => v.name === keysVolume)?.emptyDir?.medium, 'Memory', 'into a memory-backed volume');
  t.equal(relayContainer.volumeMounts!.find((m) => m.name === keysVolume)?.mountPath, dest, 'which the relay mounts at the same path');
  t.equal(config.key, `${dest}/relay.key`, 'relay.toml\'s key is the copy');
  t.equal(config.adminTokenFile, `${dest}/admin.token`, 'relay.toml\'s admin_token_file is the copy');
  t.same(secretVolume.secret!.items!.map((i) => i.key).sort(), ['admin.token', 'relay.key'], 'the Secret holds both');
  t.notOk(relayContainer.volumeMounts!.some((m) => m.name === secretVolume.name), 'the relay itself never mounts the Secret');
  const configMount = relayContainer.volumeMounts!.find((m) => pod.volumes!.find((v) => v.name === m.name)?.configMap)!;
  t.equal(configMount.subPath, undefined, 'the ConfigMap is a directory mount (a subPath never sees an update)');
  t.equal(relayContainer.args![relayContainer.args!.indexOf('--config') + 1], `${configMount.mountPath}/relay.toml`, '--config names the mounted file');
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) t.equal(c.image, relayContainer.image, `${c.name} uses the relay image (it has install)`);
});

t.test('a drain fits in the grace period, and liveness outlasts it', async (t) => {
  const drainS = (config.drainTimeoutMs ?? 30_000) / 1000;
  const preStop = relayContainer.lifecycle?.preStop?.exec?.command ?? [];
  const pauseS = preStop[0] === 'sleep' ? Number(preStop[1]) : 0;
  const stopS = drainS + WORKER_KILL_MARGIN_S;
  t.ok(pod.terminationGracePeriodSeconds! > pauseS + stopS, `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} > preStop ${pauseS} s + drain ${drainS} s + the primary's ${WORKER_KILL_MARGIN_S} s`);
  const live = relayContainer.livenessProbe!;
  t.ok(live.periodSeconds! * live.failureThreshold! > stopS, 'a relay failing its health check for a whole drain is not killed for it');
  t.equal(relayContainer.readinessProbe?.failureThreshold, 1, 'one 503 takes the pod out of the endpoints');
});

t.test('every pod meets the restricted Pod Security Standard the namespace enforces', async (t) => {
  t.equal(findObject(all, 'Namespace').metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
  const safeSysctls = ['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range'];
  for (const [name, p] of [['relay', pod], ['agent', agentPod]] as const) {
    t.equal(p.securityContext?.runAsNonRoot, true, `${name}: runAsNonRoot`);
    t.equal(p.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${name}: seccomp RuntimeDefault`);
    for (const s of p.securityContext?.sysctls ?? []) t.ok(safeSysctls.includes(s.name), `${name}: sysctl ${s.name} is in the safe set`);
    for (const c of [...(p.initContainers ?? []), ...p.containers]) {
      t.equal(c.securityContext?.allowPrivilegeEscalation, false, `${name}/${c.name}: no privilege escalation`);
      t.same(c.securityContext?.capabilities?.drop, ['ALL'], `${name}/${c.name}: drops every capability`);
      t.equal(c.securityContext?.capabilities?.add, undefined, `${name}/${c.name}: adds none`);
      t.ok(c.resources?.limits?.memory, `${name}/${c.name}: a memory limit`);
    }
  }
  t.ok(pod.securityContext?.sysctls?.some((s) => s.name === 'net.ipv4.ip_unprivileged_port_start' && s.value === '0') || portOfListener(config.tlsListen!) >= 1024,
    'a non-root relay may bind tls_listen');
});

t.test('every relay flag in the manifests is one relay --help lists', async (t) => {
  const serve = relayFlags('serve');
  const relayArgs = relayContainer.args!;
  t.equal(relayArgs[0], 'serve');
  t.same(checkRelayArgs(relayArgs.slice(1), serve).problems, [], `relay ${relayArgs.join(' ')}`);
  t.equal(relayContainer.command, undefined, 'the relay container keeps the image\'s ENTRYPOINT');
  const agent = agentPod.containers.find((c) => c.name === 'agent')!;
  t.equal(agent.args![0], 'agent');
  const { problems, values } = checkRelayArgs(agent.args!.slice(1), relayFlags('agent'));
  t.same(problems, [], `relay ${agent.args!.join(' ')}`);
  for (const v of values.get('--tls') ?? []) t.doesNotThrow(() => parseTlsSpec(v), `--tls ${v} is a tunnel the agent accepts`);
  for (const ref of agent.args!.join(' ').matchAll(/\$\(([A-Z_]+)\)/g)) t.ok(agent.env?.some((e) => e.name === ref[1]), `$(${ref[1]}) is defined in env`);
  const workers = checkRelayArgs(relayArgs.slice(1), serve).values.get('--workers')?.[0];
  t.ok(workers, 'the relay runs workers');
  const ref = /^\$\(([A-Z_]+)\)$/.exec(workers ?? '')?.[1];
  const field = relayContainer.env?.find((e) => e.name === ref)?.valueFrom?.resourceFieldRef;
  t.same(field, { containerName: 'relay', resource: 'requests.cpu', divisor: '1' }, '--workers is the CPU request in whole CPUs (not auto: the node\'s cores)');
  t.ok(Number(relayContainer.resources?.requests?.cpu) >= 2, 'a CPU request of two or more: more than one worker');
});

t.test('the agent Deployment reaches every relay through the headless Service, one process per key', async (t) => {
  const agent = agentPod.containers.find((c) => c.name === 'agent')!;
  const { values } = checkRelayArgs(agent.args!.slice(1), relayFlags('agent'));
  const relay = values.get('--relay')![0];
  const ns = headless.metadata!.namespace;
  t.equal(relay, `${headless.metadata!.name}.${ns}.svc.cluster.local:${headlessSpec.ports[0].port}`, '--relay is the headless Service\'s name and port');
  const spec = agentDeployment.spec as WorkloadSpec;
  t.equal(spec.replicas, 1, 'one agent process per key');
  t.equal(spec.strategy?.type, 'Recreate', 'never two at once during a rollout');
  const keyArg = values.get('--key')![0];
  const init = agentPod.initContainers!.find((c) => c.command?.[0] === 'install')!;
  t.equal(keyArg, `${init.command!.at(-1)!.replace(/\/$/, '')}/agent.key`, '--key is the init container\'s 0400 copy');
  t.equal(agentPod.volumes!.find((v) => v.secret)?.secret?.defaultMode, 0o400);
});
