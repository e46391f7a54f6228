/** Alibaba Cloud ECS, described for the catalog. */
import { accessKeyEnvironment } from '../access-key-env.js';
import type { ProviderDescriptor } from '../descriptor.js';
import { createAlibabaProvider, type AlibabaCredentials } from './client.js';
import { alibabaInfo } from './info.js';
import { AlibabaSimulator } from './simulator.js';

type Credentials = AlibabaCredentials & { endpoint?: string };

const VARIABLES = {
  keyId: 'ALIBABA_CLOUD_ACCESS_KEY_ID',
  secret: 'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
  endpoint: 'ALIBABA_CLOUD_ECS_ENDPOINT',
} as const;

export const alibaba: ProviderDescriptor<Credentials> = {
  info: alibabaInfo,
  env: accessKeyEnvironment(VARIABLES, ({ keyId, secret, endpoint }) => ({
    accessKeyId: keyId,
    accessKeySecret: secret,
    ...(endpoint ? { endpoint } : {}),
  })),
  create: ({ endpoint, ...credentials }, tuning) =>
    createAlibabaProvider({ credentials, retry: tuning.retry, timeoutMs: tuning.timeoutMs, ...(endpoint ? { endpoint } : {}) }),
  local: {
    keyId: 'LTAI5tLocalSimulator',
    simulator: (account, options) => new AlibabaSimulator({ credentials: { [account.keyId]: account.secret }, ...options }),
    env: (account, url) => ({ [VARIABLES.keyId]: account.keyId, [VARIABLES.secret]: account.secret, [VARIABLES.endpoint]: url }),
    fleet: [
      { region: 'cn-hangzhou', id: 'i-bp1g6zv0ce8oghu7a001', state: 'running' },
      { region: 'cn-hangzhou', id: 'i-bp1g6zv0ce8oghu7a002', state: 'running' },
      { region: 'cn-hangzhou', id: 'i-bp1g6zv0ce8oghu7a003', state: 'stopped' },
      { region: 'cn-shanghai', id: 'i-uf6f5trc95ug8t33a004', state: 'running' },
    ],
  },
};
