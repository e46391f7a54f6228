import type { ProviderInfo } from '../provider.js';

const ID = /^i-[a-z0-9]{8,32}$/;

export const alibabaInfo: ProviderInfo = {
  name: 'alibaba',
  displayName: 'Alibaba Cloud ECS',
  aliases: ['aliyun'],
  // A captured ECS DescribeRegions answer (aliyun/alibabacloud-api-vscode-toolkit,
  // media/src/mocks/openApiResponse.ts), less Australia (Sydney) ap-southeast-2, which the ECS endpoint list
  // marks closed (https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-endpoint;
  // https://www.alibabacloud.com/help/en/ecs/product-overview/regions-and-zones).
  regions: [
    'cn-qingdao', 'cn-beijing', 'cn-zhangjiakou', 'cn-huhehaote', 'cn-wulanchabu', 'cn-hangzhou', 'cn-shanghai',
    'cn-nanjing', 'cn-fuzhou', 'cn-shenzhen', 'cn-heyuan', 'cn-guangzhou', 'cn-wuhan-lr', 'cn-chengdu', 'cn-hongkong',
    'ap-northeast-1', 'ap-northeast-2', 'ap-southeast-1', 'ap-southeast-3', 'ap-southeast-5',
    'ap-southeast-6', 'ap-southeast-7', 'ap-south-1', 'us-east-1', 'us-west-1', 'eu-west-1', 'eu-central-1', 'me-east-1',
  ],
  isInstanceId: (id) => ID.test(id),
  idFormat: 'i- followed by 8-32 lowercase letters or digits',
  exampleId: 'i-bp1g6zv0ce8oghu7abcd',
  maxBatch: 100,
  // DescribeInstances takes InstanceIds as a JSON array of at most 100 (alibabacloud-typescript-sdk
  // ecs-20140526/src/models/DescribeInstancesRequest.ts, InstanceIds).
  maxDescribe: 100,
  // ECS throttles per account, per region, per minute; no published figure for RebootInstances.
  limits: { maxConcurrent: 2, minTimeMs: 250 },
  resendSafe: false,
  // StartTime moves on every start (src/providers/alibaba/describe.ts).
  clockProvesReboot: true,
};
