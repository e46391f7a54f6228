/** Baidu AI Cloud BCC, described for the catalog. */
import { accessKeyEnvironment } from '../access-key-env.js';
import { openCredentialSource, type CredentialSpec } from '../credentials.js';
import { accountEnv, tokensOf, type ProviderDescriptor } from '../descriptor.js';
import { createBaiduProvider } from './client.js';
import { baiduInfo } from './info.js';
import { BaiduSimulator } from './simulator.js';

interface Credentials {
  access: CredentialSpec;
  endpoint?: string;
}

const VARIABLES = {
  keyId: 'BCE_ACCESS_KEY_ID',
  secret: 'BCE_SECRET_ACCESS_KEY',
  // The token of an STS key (the SDK calls it sessionToken: npm @baiducloud/sdk src/bce_base_client.js).
  token: 'BCE_SESSION_TOKEN',
  file: 'REBOOT_BAIDU_CREDENTIALS_FILE',
  endpoint: 'BCE_BCC_ENDPOINT',
} as const;

export const baidu: ProviderDescriptor<Credentials> = {
  info: baiduInfo,
  env: accessKeyEnvironment(VARIABLES, ({ access, endpoint }) => ({ access, ...(endpoint ? { endpoint } : {}) })),
  create: ({ endpoint, access }, tuning) =>
    createBaiduProvider({
      credentials: { source: openCredentialSource(access, tuning.logger ? { logger: tuning.logger } : {}) },
      retry: tuning.retry,
      timeoutMs: tuning.timeoutMs,
      ...(endpoint ? { endpoint } : {}),
    }),
  local: {
    keyId: 'bceLocalSimulator',
    simulator: (account, options) => new BaiduSimulator({ credentials: { [account.keyId]: account.secret }, ...tokensOf(account), ...options }),
    env: (account, url) => ({ ...accountEnv(VARIABLES, account), [VARIABLES.endpoint]: url }),
    fleet: [
      { region: 'bj', id: 'i-YufwpQAe', state: 'running', name: 'web-bj-01' },
      { region: 'bj', id: 'i-Zx81kLm2', state: 'running', name: 'api-bj-02' },
      { region: 'bj', id: 'i-Stop0001', state: 'stopped', name: 'batch-bj-stopped' },
      // Accepts the reboot and stays Starting for ever: the verification timeout path.
      { region: 'bj', id: 'i-NvrBack1', state: 'running', name: 'db-never-back', neverComesBack: true },
    ],
  },
};
