/** Huawei Cloud ECS, described for the catalog. */
import { z } from 'zod';
import { accessKeyEnvironment } from '../access-key-env.js';
import { openCredentialSource, type CredentialSpec } from '../credentials.js';
import { accountEnv, tokensOf, type ProviderDescriptor } from '../descriptor.js';
import { createHuaweiProvider, type HuaweiProjects } from './client.js';
import { huaweiInfo } from './info.js';
import { HuaweiSimulator } from './simulator.js';

type Credentials = HuaweiProjects & { access: CredentialSpec; endpoint?: string };

const VARIABLES = {
  keyId: 'HUAWEICLOUD_SDK_AK',
  secret: 'HUAWEICLOUD_SDK_SK',
  // The SDK's own name for a temporary AK/SK's token: npm @huaweicloud/huaweicloud-sdk-core ClientBuilder.js
  // getInputParamCredential maps HUAWEICLOUD_SDK_SECURITY_TOKEN onto withSecurityToken.
  token: 'HUAWEICLOUD_SDK_SECURITY_TOKEN',
  file: 'REBOOT_HUAWEI_CREDENTIALS_FILE',
  endpoint: 'HUAWEICLOUD_ECS_ENDPOINT',
} as const;
const PROJECT_ID = 'HUAWEICLOUD_SDK_PROJECT_ID';

/** The project the simulated account uses in every region. */
const SIMULATED_PROJECT = '0123456789abcdef0123456789abcdef';

// A project id is per account and region, so a bot that reboots in several regions needs a map, which
// does not fit in a variable: `{ "huawei": { "projectIds": { "cn-north-4": "…" } } }` in REBOOT_CONFIG.
const FileSection = z.object({ projectIds: z.record(z.string(), z.string().regex(/^[0-9a-f]{32}$/)).optional() });

export const huawei: ProviderDescriptor<Credentials> = {
  info: huaweiInfo,
  env: accessKeyEnvironment({ ...VARIABLES, optional: [PROJECT_ID] }, ({ access, endpoint, optional }) => {
    const projectId = optional[PROJECT_ID];
    return {
      access,
      ...(projectId ? { projectId } : {}),
      ...(endpoint ? { endpoint } : {}),
    };
  }),
  file: FileSection,
  create: ({ endpoint, access, ...projects }, tuning) =>
    createHuaweiProvider({
      credentials: { source: openCredentialSource(access, tuning.logger ? { logger: tuning.logger } : {}), ...projects },
      retry: tuning.retry,
      timeoutMs: tuning.timeoutMs,
      ...(endpoint ? { endpoint } : {}),
      pollInitialDelayMs: tuning.poll.initialDelayMs,
      pollMaxDelayMs: tuning.poll.maxDelayMs,
      pollTimeoutMs: tuning.poll.timeoutMs,
    }),
  local: {
    keyId: 'HWLOCALSIMULATOR',
    simulator: (account, options) => new HuaweiSimulator({ credentials: { [account.keyId]: account.secret }, ...tokensOf(account), ...options }),
    env: (account, url) => ({
      ...accountEnv(VARIABLES, account),
      [VARIABLES.endpoint]: url,
      [PROJECT_ID]: SIMULATED_PROJECT,
    }),
    fleet: [
      { region: 'cn-north-4', id: '616fb98f-46ca-475e-917e-2563e5a8cd19', state: 'running', name: 'ecs-web-01' },
      { region: 'cn-north-4', id: '726fb98f-46ca-475e-917e-2563e5a8cd20', state: 'running', name: 'ecs-web-02' },
      { region: 'cn-north-4', id: '836fb98f-46ca-475e-917e-2563e5a8cd21', state: 'stopped', name: 'ecs-batch-01' },
      // Its reboot job sub-job stays RUNNING, then ends FAIL; the server itself stays in REBOOT (simulator.ts).
      { region: 'cn-north-4', id: '946fb98f-46ca-475e-917e-2563e5a8cd22', state: 'running', name: 'db-never-back', neverComesBack: true },
    ],
  },
};
