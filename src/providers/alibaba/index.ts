/** Alibaba Cloud ECS, described for the catalog. */
import { accessKeyEnvironment } from '../access-key-env.js';
import { openCredentialSource, type CredentialSpec } from '../credentials.js';
import { accountEnv, tokensOf, type ProviderDescriptor } from '../descriptor.js';
import { createAlibabaProvider } from './client.js';
import { alibabaInfo } from './info.js';
import { AlibabaSimulator } from './simulator.js';

interface Credentials {
  access: CredentialSpec;
  endpoint?: string;
}

const VARIABLES = {
  keyId: 'ALIBABA_CLOUD_ACCESS_KEY_ID',
  secret: 'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
  // The variable Alibaba's own credential chain reads for an STS token (aliyun/credentials-nodejs, env provider).
  token: 'ALIBABA_CLOUD_SECURITY_TOKEN',
  // Ours: ALIBABA_CLOUD_CREDENTIALS_FILE already names Alibaba's INI profile file, a different format.
  file: 'REBOOT_ALIBABA_CREDENTIALS_FILE',
  endpoint: 'ALIBABA_CLOUD_ECS_ENDPOINT',
} as const;

export const alibaba: ProviderDescriptor<Credentials> = {
  info: alibabaInfo,
  env: accessKeyEnvironment(VARIABLES, ({ access, endpoint }) => ({ access, ...(endpoint ? { endpoint } : {}) })),
  create: ({ endpoint, access }, tuning) =>
    createAlibabaProvider({
      credentials: { source: openCredentialSource(access, tuning.logger ? { logger: tuning.logger } : {}) },
      retry: tuning.retry,
      timeoutMs: tuning.timeoutMs,
      ...(endpoint ? { endpoint } : {}),
    }),
  local: {
    keyId: 'LTAI5tLocalSimulator',
    simulator: (account, options) => new AlibabaSimulator({ credentials: { [account.keyId]: account.secret }, ...tokensOf(account), ...options }),
    env: (account, url) => ({ ...accountEnv(VARIABLES, account), [VARIABLES.endpoint]: url }),
    fleet: [
      { region: 'cn-hangzhou', id: 'i-bp1g6zv0ce8oghu7a001', state: 'running', name: 'web-hz-1' },
      { region: 'cn-hangzhou', id: 'i-bp1g6zv0ce8oghu7a002', state: 'running', name: 'web-hz-2' },
      { region: 'cn-hangzhou', id: 'i-bp1g6zv0ce8oghu7a003', state: 'stopped', name: 'batch-hz-stopped' },
      { region: 'cn-shanghai', id: 'i-uf6f5trc95ug8t33a004', state: 'running', name: 'api-sh-1' },
      // OperationLocks financial: DescribeInstances shows it locked, RebootInstances refuses it (InstanceExpiredOrInArrears).
      { region: 'cn-hangzhou', id: 'i-bp1g6zv0ce8oghu7a005', state: 'running', name: 'billing-locked', lockReason: 'financial' },
      // Accepts the reboot, then stays Starting for ever: verification must end in a timeout, not success.
      { region: 'cn-hangzhou', id: 'i-bp1g6zv0ce8oghu7a006', state: 'running', name: 'db-never-back', neverComesBack: true },
    ],
  },
};
