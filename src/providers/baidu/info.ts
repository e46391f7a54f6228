import type { ProviderInfo } from '../provider.js';

const ID = /^i-[A-Za-z0-9]{8,32}$/;

export const baiduInfo: ProviderInfo = {
  name: 'baidu',
  displayName: 'Baidu AI Cloud BCC',
  aliases: ['bce'],
  // Short region codes of the BCC endpoints bcc.<region>.baidubce.com (providers.md §3.4).
  regions: ['bj', 'gz', 'su', 'hkg', 'fwh', 'bd', 'sin', 'fsh'],
  isInstanceId: (id) => ID.test(id),
  idFormat: 'i- followed by 8-32 letters or digits',
  exampleId: 'i-YufwpQAe',
  maxBatch: 1,
  limits: { maxConcurrent: 5, minTimeMs: 100 },
  resendSafe: false,
};
