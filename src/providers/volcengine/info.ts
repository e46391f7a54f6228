import type { ProviderInfo } from '../provider.js';

const ID = /^i-[a-z0-9]{10,32}$/;

export const volcengineInfo: ProviderInfo = {
  name: 'volcengine',
  displayName: 'Volcengine ECS',
  aliases: ['volc'],
  // Not exhaustive: ECS DescribeRegions (Version 2020-04-01) is the authority, and REBOOT_CONFIG adds regions.
  // ap-southeast-2 and ap-southeast-3 are the SDK's bootstrap regions with their own hosts
  // (volcengine/volcengine-nodejs-sdk, packages/sdk-core/src/utils/endpoint.ts); the others are the usual ECS regions.
  regions: ['cn-beijing', 'cn-shanghai', 'cn-guangzhou', 'cn-hongkong', 'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3'],
  isInstanceId: (id) => ID.test(id),
  idFormat: 'i- followed by 10-32 lowercase letters or digits',
  exampleId: 'i-ycc01lmwecgh9z3sqqfl',
  maxBatch: 100,
  // DescribeInstances takes at most 100 InstanceIds.N (volcengine-go-sdk service/ecs/api_describe_instances.go, InstanceIds).
  maxDescribe: 100,
  limits: { maxConcurrent: 2, minTimeMs: 250 },
  resendSafe: true,
  // UpdatedAt moves on every reboot (src/providers/volcengine/describe.ts).
  clockProvesReboot: true,
};
