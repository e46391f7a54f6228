/** Baidu AI Cloud BCC, described for the catalog. */
import { accessKeyEnvironment } from '../access-key-env.js';
import type { ProviderDescriptor } from '../descriptor.js';
import { createBaiduProvider, type BaiduCredentials } from './client.js';
import { baiduInfo } from './info.js';
import { BaiduSimulator } from './simulator.js';

type Credentials = BaiduCredentials & { endpoint?: string };

const VARIABLES = {
  keyId: 'BCE_ACCESS_KEY_ID',
  secret: 'BCE_SECRET_ACCESS_KEY',
  endpoint: 'BCE_BCC_ENDPOINT',
} as const;

export const baidu: ProviderDescriptor<Credentials> = {
  info: baiduInfo,
  env: accessKeyEnvironment(VARIABLES, ({ keyId, secret, endpoint }) => ({
    accessKeyId: keyId,
    secretAccessKey: secret,
    ...(endpoint ? { endpoint } : {}),
  })),
  create: ({ endpoint, ...credentials }, tuning) =>
    createBaiduProvider({ credentials, retry: tuning.retry, timeoutMs: tuning.timeoutMs, ...(endpoint ? { endpoint } : {}) }),
  local: {
    keyId: 'bceLocalSimulator',
    simulator: (account, options) => new BaiduSimulator({ credentials: { [account.keyId]: account.secret }, ...options }),
    env: (account, url) => ({ [VARIABLES.keyId]: account.keyId, [VARIABLES.secret]: account.secret, [VARIABLES.endpoint]: url }),
    fleet: [
      { region: 'bj', id: 'i-YufwpQAe', state: 'running', name: 'web-bj-01' },
      { region: 'bj', id: 'i-Zx81kLm2', state: 'running', name: 'api-bj-02' },
      { region: 'bj', id: 'i-Stop0001', state: 'stopped', name: 'batch-bj-stopped' },
      // Accepts the reboot and stays Starting for ever: the verification timeout path.
      { region: 'bj', id: 'i-NvrBack1', state: 'running', name: 'db-never-back', neverComesBack: true },
    ],
  },
};
