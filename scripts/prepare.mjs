// `npm install` from a clone or a git URL: builds dist/. A clone installed as a directory
// (`npm install /path/to/clone`) has no devDependencies yet; they are installed first, so the
// compiler is there. Run by the `prepare` script; never part of the published package.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = (command) => execSync(command, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });

if (!existsSync(new URL('../node_modules/typescript/package.json', import.meta.url))) {
  process.stderr.write('keybatch: installing the build tools in the clone (once) to build dist/\n');
  run('npm install --include=dev --ignore-scripts --no-audit --no-fund --no-save');
}
run('npm run build');
