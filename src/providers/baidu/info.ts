import type { ProviderInfo } from '../provider.js';

const ID = /^i-[A-Za-z0-9]{8,32}$/;

export const baiduInfo: ProviderInfo = {
  name: 'baidu',
  displayName: 'Baidu AI Cloud BCC',
  aliases: ['bce'],
  // Short codes of the BCC API hosts bcc.<region>.baidubce.com, listed under "服务域名" at
  // https://cloud.baidu.com/doc/BCC/s/0jwvyo603 (Chengdu cd, Nanjing nj and Yangquan yq are missing from the
  // English copy of that page, https://cloud.baidu.com/doc/BCC/s/0jwvyo603-en).
  regions: ['bj', 'gz', 'su', 'hkg', 'fwh', 'bd', 'sin', 'fsh', 'cd', 'nj', 'yq'],
  isInstanceId: (id) => ID.test(id),
  idFormat: 'i- followed by 8-32 letters or digits',
  exampleId: 'i-YufwpQAe',
  maxBatch: 1,
  // listByInstanceId documents no maximum: UNCONFIRMED; 100 is the documented bound of the GET /v2/instance
  // instanceIds filter (https://cloud.baidu.com/doc/BCC/s/Xjwvyodmx), the safe guess for the batch read too.
  maxDescribe: 100,
  limits: { maxConcurrent: 5, minTimeMs: 100 },
  resendSafe: false,
};
