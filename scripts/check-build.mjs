// Runs before `npm run start:prod`, which never installs or compiles: it stops with a clear message
// when there is nothing to run, instead of Node's "Cannot find module".
import { existsSync } from 'node:fs';
import { ENTRY, buildReason, readBuildFacts } from './ensure-build.mjs';

if (!existsSync(ENTRY)) {
  console.error(`reboot-bot: ${ENTRY} is missing. start:prod runs the built output only: run \`npm ci && npm run build\` first (or \`npm start\`, which builds when needed).`);
  process.exit(1);
}
const facts = readBuildFacts(process.cwd());
if (facts.stampMs !== undefined && buildReason(facts) !== null) {
  console.warn('reboot-bot: warning: sources changed since the last build; running the old build (start:prod never compiles).');
}
