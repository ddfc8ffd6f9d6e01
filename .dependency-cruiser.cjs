// The layering, as rules (README "Layout"). Lower rooms know nothing of higher ones: the
// ClientHello reader, Noise, the secure channel and the mux know nothing of relay, agent, CLI
// or control; relay and agent never import each other; tests and benchmarks are leaves, and what
// they share lives in support/, which the product never imports.
const features = 'src/(relay|agent|control|cli|link|bench|config|web)/';
const forbid = (name, comment, from, to) => ({ name, comment, severity: 'error', from: { path: from }, to: { path: to } });

module.exports = {
  forbidden: [
    forbid('foundation-is-a-leaf', 'src/net, src/errors.ts and src/log.ts are used by every room and use none',
      '^src/(net/|errors\\.ts|log\\.ts)', '^src/(sni|crypto|channel|mux|relay|agent|control|cli|link|bench|config|proxy-protocol|web)/'),
    forbid('sni-knows-no-one', 'the ClientHello reader stands alone', '^src/sni/', `^src/(crypto|channel|mux|proxy-protocol)/|^${features}`),
    forbid('proxy-protocol-knows-no-one', 'the PROXY protocol codec stands on src/net and errors alone', '^src/proxy-protocol/',
      `^src/(sni|crypto|channel|mux|log\\.ts)|^${features}`),
    forbid('noise-is-generic', 'src/crypto is the Noise Protocol Framework: no sockets, no channel, no mux',
      '^src/crypto/', `^src/(sni|channel|mux)/|^${features}`),
    forbid('channel-below-mux', 'the secure channel carries the mux, it does not know it', '^src/channel/', `^src/(sni|mux)/|^${features}`),
    forbid('mux-knows-no-app', 'the mux knows nothing of relay, agent, control, CLI or SNI', '^src/mux/', `^src/sni/|^${features}`),
    forbid('control-below-ends', 'the control protocol is shared by both ends and knows neither', '^src/control/', '^src/(relay|agent|cli|link|bench)/'),
    forbid('link-below-ends', 'link sockets and dial-then-splice are shared by both ends', '^src/link/', '^src/(relay|agent|control|cli|bench)/'),
    forbid('web-below-ends', 'the pages\' static files and event streams are shared by both ends and know neither', '^src/web/',
      '^src/(sni|crypto|channel|mux|proxy-protocol|relay|agent|control|cli|link|bench|config)/'),
    forbid('relay-not-agent', 'relay and agent never import each other', '^src/relay/', '^src/agent/'),
    forbid('agent-not-relay', 'relay and agent never import each other', '^src/agent/', '^src/relay/'),
    forbid('only-cli-runs-cli', 'nothing imports the CLI', '^src/(?!cli/)', '^src/cli/'),
    forbid('src-not-tests', 'the product never imports its tests or benchmarks', '^src/', '^(test|bench)/'),
    forbid('src-not-support', 'the product never imports what only tests and benchmarks share', '^src/', '^support/'),
    forbid('bench-not-tests', 'benchmarks do not import tests: what both need lives in support/', '^bench/', '^test/'),
    forbid('support-not-tests', 'support/ is shared with the benchmarks, so it imports no test', '^support/', '^(test|bench)/'),
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    { name: 'not-to-unresolvable', severity: 'error', from: {}, to: { couldNotResolve: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.lint.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js'] },
  },
};
