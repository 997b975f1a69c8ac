/**
 * The layers of src/ (docs/architecture.md), checked by `npm run lint`:
 *   npx depcruise src --config .dependency-cruiser.cjs
 * A part may import its own folder and the layers below it, never a layer above nor a sibling in
 * its own layer. Type-only imports count: a type pulled from above ties the layers as much as a value.
 */

/** Bottom first. A name is a folder of src/, or a file of src/ when it ends in `.ts`. */
const LAYERS = [
  ['errors.ts', 'logger.ts'],
  ['tokens', 'identity', 'checkpoint', 'schema', 'notify'],
  ['keys', 'cache'],
  ['requests', 'workers'],
  ['distributed'],
  ['pipeline'],
  ['batch'],
  ['files'],
  ['prompts'],
  ['sim', 'ui'],
  ['index.ts', 'internal.ts'],
  ['cli'],
];

const escapeDots = (text) => text.replace(/[.]/g, '\\.');
/** The path regex of a part: the file itself, or everything under the folder. */
const pathOf = (name) => (name.endsWith('.ts') ? `^src/${escapeDots(name)}$` : `^src/${escapeDots(name)}/`);
const anyOf = (names) => `(${names.map(pathOf).join('|')})`;

/** One rule per part: no import of a sibling of its layer or of anything above it. */
const layerRules = LAYERS.flatMap((layer, rank) =>
  layer.flatMap((name) => {
    const above = LAYERS.slice(rank + 1).flat();
    const forbidden = [...layer.filter((other) => other !== name), ...above];
    if (forbidden.length === 0) return [];
    return {
      name: `layer:${name}`,
      severity: 'error',
      comment: `src/${name} is in layer ${rank} (${layer.join(', ')}): it may import only the layers below it (docs/architecture.md)`,
      from: { path: pathOf(name) },
      to: { path: anyOf(forbidden) },
    };
  }),
);

/** The CLI is a user of the library: the public entries and the one documented internal entry. */
const CLI_ENTRIES = [
  '^src/cli/',
  '^src/index\\.ts$',
  '^src/internal\\.ts$',
  '^src/sim/index\\.ts$',
  '^src/distributed/index\\.ts$',
];

/**
 * The dashboard sits on the library as the CLI does, but inside src/: it imports another folder
 * only through that folder's index.ts (its entry), never a file behind it.
 */
const UI_ENTRIES = ['^src/ui/', '^src/[^/]+/index\\.ts$'];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'cli:public-api',
      severity: 'error',
      comment:
        'src/cli imports keybatch through src/index.ts, the subpath entries (src/sim/index.ts, src/distributed/index.ts) or src/internal.ts, nothing else of src/',
      from: { path: '^src/cli/' },
      to: { path: '^src/', pathNot: CLI_ENTRIES.join('|') },
    },
    {
      name: 'ui:folder-entries',
      severity: 'error',
      comment: "src/ui imports another folder of src/ only through the folder's index.ts",
      from: { path: '^src/ui/' },
      to: { path: '^src/[^/]+/', pathNot: UI_ENTRIES.join('|') },
    },
    {
      name: 'unresolvable',
      severity: 'error',
      comment: 'an import that resolves to nothing (a path left behind by a move)',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6'],
    skipAnalysisNotInRules: true,
  },
};
