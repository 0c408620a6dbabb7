// Floodgate's layers, written down once; `npm run lint:deps` (run by the test command) enforces them.
//
// Top to bottom; a module may import its own layer's and any lower layer's modules, never a higher
// one's, and no import may close a cycle:
//
//   cli                                   the `floodgate` command
//   service                               wires the rest together: config, store, sockets, handler
//   admin, http                           how an operator reaches the running service: the admin
//                                         socket; the status page, its API and /metrics
//   ops, replay                           what the operator sees: metrics, activity, status, top keys;
//                                         what new rules would have done to logged mail (floodgate replay)
//   server, handler                       milter sockets and deadlines; the product's milter handler
//                                         (sessions -> engine -> side effects)
//   session, engine, reputation           one milter connection's state; scoring (pure: no sockets,
//                                         no logger, no sessions); DNS-list and recipient lookups
//   milter, rules, store, tracking, dns,  the codec (pure, over Buffers); rule loading; score stores;
//   recipients, config, log, native       the tracking log's stores; resolver; recipient maps;
//                                         configuration; logging; syscalls
//   net, content, errors, maybe-promise   addresses, networks, answer filters; the message scanner (MIME
//                                         parsing, pure: no milter, rules or sockets); the base error class;
//                                         values now or later (src/maybe-promise.ts, the mail path's)
//
// Besides the layers: the codec and the engine stay pure (no I/O modules), and session sees only the codec.
const LAYERS = [
  ['cli'],
  ['service'],
  ['admin', 'http'],
  ['ops', 'replay'],
  ['server', 'handler'],
  ['session', 'engine', 'reputation'],
  ['milter', 'rules', 'store', 'tracking', 'dns', 'recipients', 'config', 'log', 'native'],
  ['net', 'content', 'errors', 'maybe-promise'],
];

/** A path regex for the modules of some top-level parts of src/ (`errors` is the file src/errors.ts). */
const under = (parts) => `^src/(${parts.join('|')})(/|\\.ts$)`;

const layerRules = LAYERS.slice(1).map((layer, i) => ({
  name: `layer-${layer.join('-')}`,
  comment: `${layer.join(', ')} sit below ${LAYERS.slice(0, i + 1).flat().join(', ')}: they must not import them`,
  severity: 'error',
  from: { path: under(layer) },
  to: { path: under(LAYERS.slice(0, i + 1).flat()) },
}));

/** Node modules that do I/O or keep time: the pure layers must not reach them. */
const IO_MODULES = '^(node:)?(net|dgram|fs|fs/promises|child_process|http|https|tls|dns|timers|timers/promises|worker_threads)$';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle: each module of it can only be understood, tested and loaded with all the others',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'milter-codec-is-pure',
      comment: 'src/milter is the codec over Buffers: no other part of Floodgate, no I/O (STYLE.md)',
      severity: 'error',
      from: { path: '^src/milter/' },
      to: { pathNot: '^src/(milter/|errors\\.ts$)|^(node:)?buffer$' },
    },
    {
      name: 'session-sees-only-the-codec',
      comment: 'A session is one connection\'s state machine: it knows the codec and nothing of rules, stores or sockets',
      severity: 'error',
      from: { path: '^src/session/' },
      to: { pathNot: '^src/(session/|milter/|errors\\.ts$|maybe-promise\\.ts$)' },
    },
    {
      name: 'engine-is-pure',
      comment: 'The engine decides from facts, scores and a clock: no sessions, sockets, logger or timers',
      severity: 'error',
      from: { path: '^src/engine/' },
      to: { path: `${under(['session', 'log', 'native', 'dns', 'reputation'])}|${IO_MODULES}` },
    },
    {
      name: 'content-scanner-is-pure',
      comment: 'src/content reads one message from bytes handed to it: besides its own layer (net, errors) no milter, rules or sockets, no I/O or timers (issue 17)',
      severity: 'error',
      from: { path: '^src/content/' },
      to: { path: `^src/(?!content/|net/|errors\\.ts$)|${IO_MODULES}` },
    },
    {
      name: 'no-unresolvable',
      comment: 'An import that resolves to nothing',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.build.json' },
    exclude: { path: '\\.d\\.ts$' },
  },
};
