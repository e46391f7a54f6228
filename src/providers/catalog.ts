/** Static facts of every provider, available without credentials: the parser validates against these. */
import { alibabaInfo } from './alibaba/info.js';
import { baiduInfo } from './baidu/info.js';
import { huaweiInfo } from './huawei/info.js';
import type { ProviderInfo, ProviderName } from './provider.js';
import { volcengineInfo } from './volcengine/info.js';

export const PROVIDER_INFO: Readonly<Record<ProviderName, ProviderInfo>> = {
  alibaba: alibabaInfo,
  volcengine: volcengineInfo,
  baidu: baiduInfo,
  huawei: huaweiInfo,
};

/** Finds a provider by its name or one of its aliases, case-insensitively. */
export function findProvider(nameOrAlias: string): ProviderInfo | undefined {
  const wanted = nameOrAlias.toLowerCase();
  return Object.values(PROVIDER_INFO).find((p) => p.name === wanted || p.aliases.includes(wanted));
}
