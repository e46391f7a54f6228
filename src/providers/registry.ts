/** Builds the runtime provider clients for the clouds whose credentials are configured. */
import type { ProviderCredentials } from '../config.js';
import { createAlibabaProvider } from './alibaba/client.js';
import { createBaiduProvider } from './baidu/client.js';
import { createHuaweiProvider } from './huawei/client.js';
import type { Provider, ProviderName } from './provider.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
import { createVolcengineProvider } from './volcengine/client.js';

/** Providers with a client in this build; any other answers "not available yet". */
export const IMPLEMENTED_PROVIDERS: readonly ProviderName[] = ['alibaba', 'volcengine', 'baidu', 'huawei'];

export interface ProviderTuning {
  retry: RetryPolicy;
  timeoutMs: number;
  /** Async job polling (Huawei): first wait, longest wait, and when to give up. */
  poll: { initialDelayMs: number; maxDelayMs: number; timeoutMs: number };
}

export const DEFAULT_PROVIDER_TUNING: ProviderTuning = {
  retry: DEFAULT_RETRY_POLICY,
  timeoutMs: 30_000,
  poll: { initialDelayMs: 5_000, maxDelayMs: 10_000, timeoutMs: 10 * 60_000 },
};

export function buildProviders(
  credentials: ProviderCredentials,
  tuning: ProviderTuning = DEFAULT_PROVIDER_TUNING,
): Partial<Record<ProviderName, Provider>> {
  const providers: Partial<Record<ProviderName, Provider>> = {};
  const common = { retry: tuning.retry, timeoutMs: tuning.timeoutMs };
  const endpoint = (e: string | undefined): { endpoint?: string } => (e ? { endpoint: e } : {});
  const { alibaba, volcengine, baidu, huawei } = credentials;
  if (alibaba) {
    providers.alibaba = createAlibabaProvider({
      ...common,
      ...endpoint(alibaba.endpoint),
      credentials: { accessKeyId: alibaba.accessKeyId, accessKeySecret: alibaba.accessKeySecret },
    });
  }
  if (volcengine) {
    providers.volcengine = createVolcengineProvider({
      ...common,
      ...endpoint(volcengine.endpoint),
      credentials: { accessKeyId: volcengine.accessKeyId, secretAccessKey: volcengine.secretAccessKey },
    });
  }
  if (baidu) {
    providers.baidu = createBaiduProvider({
      ...common,
      ...endpoint(baidu.endpoint),
      credentials: { accessKeyId: baidu.accessKeyId, secretAccessKey: baidu.secretAccessKey },
    });
  }
  if (huawei) {
    providers.huawei = createHuaweiProvider({
      ...common,
      ...endpoint(huawei.endpoint),
      credentials: {
        accessKeyId: huawei.accessKeyId,
        secretAccessKey: huawei.secretAccessKey,
        ...(huawei.projectId ? { projectId: huawei.projectId } : {}),
        ...(huawei.projectIds ? { projectIds: huawei.projectIds } : {}),
      },
      pollInitialDelayMs: tuning.poll.initialDelayMs,
      pollMaxDelayMs: tuning.poll.maxDelayMs,
      pollTimeoutMs: tuning.poll.timeoutMs,
    });
  }
  return providers;
}
