import type { ProviderInfo } from '../provider.js';

const ID = /^i-[a-z0-9]{10,32}$/;

export const volcengineInfo: ProviderInfo = {
  name: 'volcengine',
  displayName: 'Volcengine ECS',
  aliases: ['volc'],
  // Commonly seen ECS regions plus the SDK's bootstrap regions (providers.md §1.4); not exhaustive.
  regions: ['cn-beijing', 'cn-shanghai', 'cn-guangzhou', 'cn-hongkong', 'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3'],
  isInstanceId: (id) => ID.test(id),
  idFormat: 'i- followed by 10-32 lowercase letters or digits',
  exampleId: 'i-ycc01lmwecgh9z3sqqfl',
  maxBatch: 100,
  limits: { maxConcurrent: 2, minTimeMs: 250 },
  resendSafe: true,
};
