/** Volcengine ECS, described for the catalog. */
import { accessKeyEnvironment } from '../access-key-env.js';
import { openCredentialSource, type CredentialSpec } from '../credentials.js';
import { accountEnv, tokensOf, type ProviderDescriptor } from '../descriptor.js';
import { createVolcengineProvider } from './client.js';
import { volcengineInfo } from './info.js';
import { VolcengineSimulator } from './simulator.js';

interface Credentials {
  access: CredentialSpec;
  endpoint?: string;
}

const VARIABLES = {
  keyId: 'VOLCENGINE_ACCESS_KEY',
  secret: 'VOLCENGINE_SECRET_KEY',
  // The token of an STS key (the SDK calls it sessionToken: npm @volcengine/openapi lib/base/service.js).
  token: 'VOLCENGINE_SESSION_TOKEN',
  file: 'REBOOT_VOLCENGINE_CREDENTIALS_FILE',
  endpoint: 'VOLCENGINE_ENDPOINT',
} as const;

export const volcengine: ProviderDescriptor<Credentials> = {
  info: volcengineInfo,
  env: accessKeyEnvironment(VARIABLES, ({ access, endpoint }) => ({ access, ...(endpoint ? { endpoint } : {}) })),
  create: ({ endpoint, access }, tuning) =>
    createVolcengineProvider({
      credentials: { source: openCredentialSource(access, tuning.logger ? { logger: tuning.logger } : {}) },
      retry: tuning.retry,
      timeoutMs: tuning.timeoutMs,
      ...(endpoint ? { endpoint } : {}),
    }),
  local: {
    keyId: 'AKLTLocalSimulator',
    simulator: (account, options) => new VolcengineSimulator({ credentials: { [account.keyId]: account.secret }, ...tokensOf(account), ...options }),
    env: (account, url) => ({ ...accountEnv(VARIABLES, account), [VARIABLES.endpoint]: url }),
    fleet: [
      { region: 'cn-beijing', id: 'i-ycc01lmwecgh9z3sq001', state: 'running', name: 'web-bj-01' },
      { region: 'cn-beijing', id: 'i-ycc01lmwecgh9z3sq002', state: 'running', name: 'web-bj-02' },
      { region: 'cn-beijing', id: 'i-ycc01lmwecgh9z3sq003', state: 'stopped', name: 'batch-bj-stopped' },
      // Accepts the reboot, then shows REBOOTING for ever: what verification must report as not back.
      { region: 'cn-beijing', id: 'i-ycc01lmwecgh9z3sq004', state: 'running', name: 'db-never-back', neverComesBack: true },
    ],
  },
};
