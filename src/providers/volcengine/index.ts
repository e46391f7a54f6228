/** Volcengine ECS, described for the catalog. */
import { accessKeyEnvironment } from '../access-key-env.js';
import type { ProviderDescriptor } from '../descriptor.js';
import { createVolcengineProvider, type VolcengineCredentials } from './client.js';
import { volcengineInfo } from './info.js';
import { VolcengineSimulator } from './simulator.js';

type Credentials = VolcengineCredentials & { endpoint?: string };

const VARIABLES = {
  keyId: 'VOLCENGINE_ACCESS_KEY',
  secret: 'VOLCENGINE_SECRET_KEY',
  endpoint: 'VOLCENGINE_ENDPOINT',
} as const;

export const volcengine: ProviderDescriptor<Credentials> = {
  info: volcengineInfo,
  env: accessKeyEnvironment(VARIABLES, ({ keyId, secret, endpoint }) => ({
    accessKeyId: keyId,
    secretAccessKey: secret,
    ...(endpoint ? { endpoint } : {}),
  })),
  create: ({ endpoint, ...credentials }, tuning) =>
    createVolcengineProvider({ credentials, retry: tuning.retry, timeoutMs: tuning.timeoutMs, ...(endpoint ? { endpoint } : {}) }),
  local: {
    keyId: 'AKLTLocalSimulator',
    simulator: (account, options) => new VolcengineSimulator({ credentials: { [account.keyId]: account.secret }, ...options }),
    env: (account, url) => ({ [VARIABLES.keyId]: account.keyId, [VARIABLES.secret]: account.secret, [VARIABLES.endpoint]: url }),
    fleet: [
      { region: 'cn-beijing', id: 'i-ycc01lmwecgh9z3sq001', state: 'running', name: 'web-bj-01' },
      { region: 'cn-beijing', id: 'i-ycc01lmwecgh9z3sq002', state: 'running', name: 'web-bj-02' },
      { region: 'cn-beijing', id: 'i-ycc01lmwecgh9z3sq003', state: 'stopped', name: 'batch-bj-stopped' },
      // Accepts the reboot, then shows REBOOTING for ever: what verification must report as not back.
      { region: 'cn-beijing', id: 'i-ycc01lmwecgh9z3sq004', state: 'running', name: 'db-never-back', neverComesBack: true },
    ],
  },
};
