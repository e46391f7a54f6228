import type { ProviderInfo } from '../provider.js';

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const huaweiInfo: ProviderInfo = {
  name: 'huawei',
  displayName: 'Huawei Cloud ECS',
  aliases: ['hwc'],
  // EcsRegion of the Node SDK (huaweicloud/huaweicloud-sdk-nodejs-v3, services/ecs/v2/EcsRegion.ts as of
  // release 3.1.162; node_modules holds only the SDK core, without it).
  regions: [
    'cn-north-1', 'cn-north-2', 'cn-north-4', 'cn-north-9', 'cn-north-11', 'cn-north-12', 'cn-east-2', 'cn-east-3',
    'cn-east-4', 'cn-east-5', 'cn-south-1', 'cn-south-2', 'cn-south-4', 'cn-southwest-2', 'cn-southwest-3',
    'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3', 'ap-southeast-4', 'ap-southeast-5', 'my-kualalumpur-1',
    'af-south-1', 'af-north-1', 'sa-brazil-1', 'la-north-2', 'la-south-2', 'na-mexico-1', 'tr-west-1', 'me-east-1',
    'ae-ad-1', 'eu-west-0', 'eu-west-101', 'ru-moscow-1',
  ],
  isInstanceId: (id) => ID.test(id),
  idFormat: 'a lowercase UUID such as 616fb98f-46ca-475e-917e-2563e5a8cd19',
  exampleId: '616fb98f-46ca-475e-917e-2563e5a8cd19',
  maxBatch: 1000,
  // ListServersDetails with server_id: at most 100 ids per call is Huawei's advice to keep the URI short
  // (huaweicloud-sdk-java-v3 services/ecs/.../v2/model/ListServersDetailsRequest.java, getServerId()).
  maxDescribe: 100,
  // Batch reboot handles at most 1000 servers a minute (https://support.huaweicloud.com/api-ecs/ecs_02_0302.html);
  // the older English page says 1000 per call (https://support.huaweicloud.com/en-us/api-ecs/ecs_02_0302.html),
  // so both bounds are kept.
  limits: { maxConcurrent: 1, minTimeMs: 500, instancesPerMinute: 1000 },
  resendSafe: false,
};
