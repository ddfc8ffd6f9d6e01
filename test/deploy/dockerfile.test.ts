// deploy/Dockerfile and .dockerignore, checked without a Docker engine: the stages, the user,
// the entry point and its flags, the files the build copies (present, and let through by
// .dockerignore, which keeps everything else out), and the HEALTHCHECK command run for real
// against a relay: healthy while it serves, unhealthy once it drains and once it is gone.
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RelayProcess, portOf } from '../helpers/proc.js';
import { tempHome } from '../helpers/net.js';
import { ROOT, checkRelayArgs, parseDockerfile, read, relayFlags } from './files.js';

const steps = parseDockerfile(read('deploy/Dockerfile'));
const finalStage = Math.max(...steps.map((s) => s.stage));
const inStage = (stage: number, op: string) => steps.filter((s) => s.stage === stage && s.op === op);
const json = (args: string) => JSON.parse(args) as string[];
const healthcheck = json(steps.find((s) => s.op === 'HEALTHCHECK')!.args.replace(/^.*?CMD\s+/, ''));

t.test('two stages: tsc and node-gyp with the dev dependencies, then production dependencies, dist/ and the addon only', async (t) => {
  t.equal(finalStage, 1, 'two stages');
  t.match(steps.find((s) => s.op === 'FROM' && s.stage === 0)!.args, / AS build$/);
  const buildRuns = inStage(0, 'RUN').map((s) => s.args);
  t.ok(buildRuns.some((r) => /^npm ci\b/.test(r) && !r.includes('--omit=dev')), 'the build stage installs the dev dependencies');
  t.ok(buildRuns.some((r) => /\btsc -p tsconfig\.json\b/.test(r)), 'and compiles');
  const runtimeRuns = inStage(finalStage, 'RUN').map((s) => s.args);
  t.ok(runtimeRuns.some((r) => r.includes('npm ci --omit=dev --ignore-scripts')), 'the runtime stage installs production dependencies only, no install scripts');
  t.ok(runtimeRuns.every((r) => !/\btsc\b|npm run build/.test(r)), 'and compiles nothing');
  const fromBuild = inStage(finalStage, 'COPY').filter((s) => s.args.startsWith('--from=build'));
  t.same(fromBuild.map((s) => s.args), ['--from=build /src/dist ./dist', '--from=build /src/build/Release/aead.node ./build/Release/aead.node'],
    'it takes dist/ and the native addon from the build, nothing else');
  t.ok(buildRuns.some((r) => /node-gyp rebuild/.test(r)), 'the build stage compiles the addon');
  t.ok(buildRuns.some((r) => r.includes('cp -r src/web/assets dist/web/assets')), 'and puts the pages\' static files in dist, as npm run build does');
  t.same(inStage(finalStage, 'COPY').filter((s) => !s.args.startsWith('--from')).map((s) => s.args), ['package.json package-lock.json ./'],
    'and from the context only the package files: no sources, tests or node_modules');
});

t.test('a numeric non-root user; ENTRYPOINT and CMD are the relay with flags it has', async (t) => {
  const user = inStage(finalStage, 'USER').at(-1)!.args;
  t.match(user, /^[1-9]\d*:[1-9]\d*$/, 'USER is a numeric uid:gid, not root (Kubernetes runAsNonRoot can check it)');
  t.same(json(steps.find((s) => s.op === 'ENTRYPOINT')!.args), ['node', 'dist/cli/index.js']);
  const cmd = json(steps.find((s) => s.op === 'CMD')!.args);
  t.same(cmd, ['serve', '--config', '/etc/relay/relay.toml']);
  t.same(checkRelayArgs(cmd.slice(1), relayFlags('serve')).problems, [], 'relay serve accepts CMD\'s flags');
  const workdir = inStage(finalStage, 'WORKDIR').at(-1)!.args;
  t.equal(workdir, '/app');
  t.ok(inStage(finalStage, 'COPY').some((s) => /^package\.json package-lock\.json \.\/$/.test(s.args)), 'package.json lands in /app, beside dist/');
  t.match(read('src/cli/index.ts'), /require\('\.\.\/\.\.\/package\.json'\)/, 'where dist/cli/index.js looks for it (../../package.json)');
  t.ok(existsSync(join(ROOT, 'dist/cli/index.js')), 'dist/cli/index.js is what tsc makes of src/cli/index.ts');
});

t.test('every package src/ imports at run time is a production dependency (the image installs only those)', async (t) => {
  const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
  const files = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  const used = new Set<string>();
  for (const f of files) {
    const text = read(join('src', f));
    // Value imports and re-exports (a type-only one is erased by tsc), side-effect imports, import().
    for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith('.') || spec.startsWith('node:')) continue;
      used.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
    }
  }
  t.ok(used.has('pino') && used.has('commander'), `found the imports (${[...used].sort().join(', ')})`);
  for (const name of [...used].sort()) t.ok(name in pkg.dependencies, `${name} is in dependencies, so npm ci --omit=dev installs it`);
});

t.test('the files the build copies exist, .dockerignore lets them through and nothing else', async (t) => {
  const ignore = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  t.equal(ignore[0], '*', '.dockerignore starts by excluding everything (no key or token can reach the context)');
  const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1));
  const sources = steps.filter((s) => s.op === 'COPY' && !s.args.startsWith('--from')).flatMap((s) => s.args.split(/\s+/).slice(0, -1));
  t.ok(sources.length >= 4);
  for (const src of sources) {
    t.ok(existsSync(join(ROOT, src)), `${src} exists in the repository`);
    t.ok(allowed.includes(src.replace(/\/$/, '')), `${src} is let through .dockerignore`);
  }
  t.same(allowed.filter((a) => !sources.map((s) => s.replace(/\/$/, '')).includes(a)), [], '.dockerignore lets through nothing the build does not copy');
  t.ok(readdirSync(join(ROOT, 'src')).includes('cli'));
});

t.test('HEALTHCHECK asks /healthz on the admin listener with node: 0 while serving, 1 when draining or gone', async (t) => {
  t.equal(healthcheck[0], 'node', 'the image has node, not curl');
  const script = healthcheck[2];
  t.match(script, /'http:\/\/127\.0\.0\.1:7836\/healthz'/, 'the admin listener\'s default address, and /healthz (no token needed)');
  const home = tempHome(t);
  const relay = new RelayProcess(['serve', '--allow-any-agent', '--tls-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0',
    '--admin-listen', '127.0.0.1:0', '--drain-timeout', '20000', '--no-warmup'], { RELAY_HOME: home });
  t.teardown(() => relay.stop('SIGKILL'));
  const ready = await relay.waitEvent('relay.ready');
  const run = async (): Promise<number> => {
    try {
      await promisify(execFile)(process.execPath, ['-e', script.replace('127.0.0.1:7836', `127.0.0.1:${portOf(ready.admin)}`)], { timeout: 10_000 });
      return 0;
    } catch (e) {
      return (e as { code?: number }).code ?? -1;
    }
  };
  t.equal(await run(), 0, 'healthy while the relay serves');
  // An open public connection keeps the drain going, so /healthz can be asked in the middle of it.
  const open = connect(portOf(ready.tls), '127.0.0.1');
  open.on('error', () => {});
  await new Promise((r) => open.once('connect', r));
  relay.child.kill('SIGTERM');
  await relay.waitEvent('relay.draining');
  t.equal(await run(), 1, 'unhealthy once the drain has begun (503)');
  t.equal(relay.child.exitCode, null, 'while the relay still runs (its admin listener answers until the end)');
  open.destroy();
  await relay.exited;
  t.equal(await run(), 1, 'unhealthy when nothing listens');
});
