import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { detailRequest, listBody, listRequest } from '../../../src/providers/baidu/describe.js';
import { rfc3986 } from '../../../src/providers/signing.js';
import {
  bceSignatureMatches,
  canonicalHeaders,
  createBaiduSigner,
  canonicalQueryString,
  canonicalUri,
  defaultHeaderNames,
  parseBceAuthorization,
  signBceRequest,
  type BceRequest,
} from '../../../src/providers/baidu/signer.js';

describe('bce-auth-v1: V-BCE-1 (official doc, Reference/s/wjwvz1xt2)', () => {
  const req: BceRequest = {
    method: 'PUT',
    path: '/v1/test/myfolder/readme.txt',
    query: [
      ['partNumber', '9'],
      ['uploadId', 'a44cc9bab11cbd156984767aad637851'],
    ],
    headers: {
      Host: 'bj.bcebos.com',
      Date: 'Mon, 27 Apr 2015 16:23:49 +0800',
      'Content-Type': 'text/plain',
      'Content-Length': '8',
      'Content-Md5': 'NFzcPqhviddjRNnSOGo4rw==',
      'x-bce-date': '2015-04-27T08:23:49Z',
    },
  };
  // No signedHeaders: the default set, and an empty signed-headers part, exactly as the doc prints it.
  const signed = signBceRequest(req, {
    accessKeyId: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    secretAccessKey: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb',
    timestamp: '2015-04-27T08:23:49Z',
    expirationSeconds: 1800,
  });

  it('builds the canonical request of the doc', () => {
    expect(signed.canonicalRequest).toBe(
      'PUT\n/v1/test/myfolder/readme.txt\npartNumber=9&uploadId=a44cc9bab11cbd156984767aad637851\n' +
        'content-length:8\ncontent-md5:NFzcPqhviddjRNnSOGo4rw%3D%3D\ncontent-type:text%2Fplain\n' +
        'host:bj.bcebos.com\nx-bce-date:2015-04-27T08%3A23%3A49Z',
    );
  });

  it('derives the signing key, signature and Authorization of the doc', () => {
    expect(signed.signingKey).toBe('1d5ce5f464064cbee060330d973218821825ac6952368a482a592e6615aef479');
    expect(signed.signature).toBe('d74a04362e6a848f5b39b15421cb449427f419c95a480fd6b8cf9fc783e2999e');
    expect(signed.authorization).toBe(
      'bce-auth-v1/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/2015-04-27T08:23:49Z/1800//d74a04362e6a848f5b39b15421cb449427f419c95a480fd6b8cf9fc783e2999e',
    );
  });

  it('verifies the doc request from its Authorization (empty part = default header set)', () => {
    const auth = parseBceAuthorization(signed.authorization);
    expect(auth?.signedHeaders).toEqual([]);
    expect(bceSignatureMatches(req, auth!, 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb')).toBe(true);
    const tampered = { ...req, headers: { ...req.headers, 'Content-Length': '9' } };
    expect(bceSignatureMatches(tampered, auth!, 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb')).toBe(false);
    // Date is outside the default set, so changing it must not matter.
    const redated = { ...req, headers: { ...req.headers, Date: 'Tue, 28 Apr 2015 00:00:00 GMT' } };
    expect(bceSignatureMatches(redated, auth!, 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb')).toBe(true);
  });
});

describe('bce-auth-v1: V-BCE-2 and V-BCE-3 (bce-sdk-js test/sdk/auth.spec.js)', () => {
  const keys = { accessKeyId: 'my_ak', secretAccessKey: 'my_sk', expirationSeconds: 1800 };
  const timestamp = new Date(1402639056 * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

  it('unix time 1402639056 is 2014-06-13T05:57:36Z', () => {
    expect(timestamp).toBe('2014-06-13T05:57:36Z');
  });

  it('V-BCE-2: canonical query A=&C=d&b= and signed headers host;x-bce-meta-key1', () => {
    const query: Array<[string, string]> = [
      ['A', ''],
      ['b', ''],
      ['C', 'd'],
    ];
    expect(canonicalQueryString(query)).toBe('A=&C=d&b=');
    const headers = { Host: 'bce.baidu.com', abc: '123', 'x-bce-meta-key1': 'ABC' };
    // The SDK signs its default set and lists it; defaultHeaderNames reproduces that choice.
    const signed = signBceRequest(
      { method: 'PUT', path: '/v1/bucket/object1', query, headers },
      { ...keys, timestamp, signedHeaders: defaultHeaderNames(headers) },
    );
    expect(signed.authorization).toBe(
      'bce-auth-v1/my_ak/2014-06-13T05:57:36Z/1800/host;x-bce-meta-key1/80c9672aca2ea9af4bb40b9a8ff458d72df94e97d550840727f3a929af271d25',
    );
  });

  it('V-BCE-3: DELETE with content-length;content-type, User-Agent not signed', () => {
    const headers = {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': '0',
      'User-Agent': 'This is the user-agent',
    };
    const signed = signBceRequest(
      { method: 'DELETE', path: '/v1/test-bucket1361199862', query: [], headers },
      { ...keys, timestamp, signedHeaders: defaultHeaderNames(headers) },
    );
    expect(signed.authorization).toBe(
      'bce-auth-v1/my_ak/2014-06-13T05:57:36Z/1800/content-length;content-type/c9386b15d585960ae5e6972f73ed92a9a682dc81025480ba5b41206d3e489822',
    );
  });

  it('strings.normalize: RFC 3986 with !\'()* and UTF-8 escaped', () => {
    expect(rfc3986("!'()*this is an example for 测试")).toBe(
      '%21%27%28%29%2Athis%20is%20an%20example%20for%20%E6%B5%8B%E8%AF%95',
    );
  });

  it('headersCanonicalization: x-bce-a:a%2Fb%3Ac, blank headers skipped', () => {
    const headers: Record<string, string> = { Host: 'localhost', 'x-bce-a': 'a/b:c', C: '' };
    expect(canonicalHeaders(headers, defaultHeaderNames(headers)).names).toEqual(['host', 'x-bce-a']);
    headers['Content-MD5'] = 'MD5';
    expect(canonicalHeaders(headers, defaultHeaderNames(headers)).text).toBe(
      'content-md5:MD5\nhost:localhost\nx-bce-a:a%2Fb%3Ac',
    );
  });
});

describe('bce-auth-v1: details of the signing rules', () => {
  it('sorts k=v strings, not keys (doc example text10 before text1)', () => {
    expect(
      canonicalQueryString([
        ['text', ''],
        ['text1', '测试'],
        ['text10', 'test'],
      ]),
    ).toBe('text10=test&text1=%E6%B5%8B%E8%AF%95&text=');
  });

  it('drops an authorization query parameter', () => {
    expect(canonicalQueryString([['authorization', 'x'], ['reboot', '']])).toBe('reboot=');
  });

  it('encodes path segments but keeps slashes', () => {
    expect(canonicalUri('/v2/instance/i-a b')).toBe('/v2/instance/i-a%20b');
    expect(canonicalUri('v2/x')).toBe('/v2/x');
  });

  it('never signs x-bce-request-id in the default set', () => {
    expect(defaultHeaderNames({ 'x-bce-request-id': 'r', 'x-bce-date': 'd', Accept: '*/*' })).toEqual(['x-bce-date']);
  });

  it('rejects malformed Authorization headers', () => {
    const sig = 'a'.repeat(64);
    expect(parseBceAuthorization(`bce-auth-v1/ak/2024-01-01T00:00:00Z/1800/host/${sig}`)).toMatchObject({
      accessKeyId: 'ak',
      expirationSeconds: 1800,
      signedHeaders: ['host'],
      timestampMs: Date.UTC(2024, 0, 1),
    });
    expect(parseBceAuthorization(`bce-auth-v2/ak/2024-01-01T00:00:00Z/1800/host/${sig}`)).toBeUndefined();
    expect(parseBceAuthorization(`bce-auth-v1/ak/20240101T000000Z/1800/host/${sig}`)).toBeUndefined();
    expect(parseBceAuthorization(`bce-auth-v1/ak/2024-01-01T00:00:00Z/0/host/${sig}`)).toBeUndefined();
    expect(parseBceAuthorization(`bce-auth-v1/ak/2024-01-01T00:00:00Z/1800/host/abc`)).toBeUndefined();
    expect(parseBceAuthorization(`bce-auth-v1/ak/2024-01-01T00:00:00Z/1800/Host/${sig}`)).toBeUndefined();
    expect(parseBceAuthorization(`bce-auth-v1//2024-01-01T00:00:00Z/1800/host/${sig}`)).toBeUndefined();
    expect(parseBceAuthorization('Bearer token')).toBeUndefined();
  });
});

// Appendix A, "Baidu ✔": the exact request our client sends for a reboot.
const rebootRequest: BceRequest = {
  method: 'PUT',
  path: '/v2/instance/i-YufwpQAe',
  query: [['reboot', '']],
  headers: {
    host: 'bcc.bj.baidubce.com',
    'content-type': 'application/json;charset=utf-8',
    'content-length': '19',
    'x-bce-date': '2024-01-01T00:00:00Z',
  },
};
const rebootSigning = {
  accessKeyId: 'TEST_AK',
  secretAccessKey: 'TEST_SK',
  timestamp: '2024-01-01T00:00:00Z',
  expirationSeconds: 1800,
  signedHeaders: ['content-length', 'content-type', 'host', 'x-bce-date'],
};

describe('bce-auth-v1: Appendix A reboot vector', () => {
  it('matches the derived canonical request, signing key and Authorization', () => {
    expect(JSON.stringify({ forceStop: false })).toHaveLength(19);
    const signed = signBceRequest(rebootRequest, rebootSigning);
    expect(signed.canonicalRequest).toBe(
      'PUT\n/v2/instance/i-YufwpQAe\nreboot=\ncontent-length:19\ncontent-type:application%2Fjson%3Bcharset%3Dutf-8\n' +
        'host:bcc.bj.baidubce.com\nx-bce-date:2024-01-01T00%3A00%3A00Z',
    );
    expect(signed.signingKey).toBe('499c7a86c4b7306497dbd218e82f21a957c011090977a518cad374d737acb8be');
    expect(signed.authorization).toBe(
      'bce-auth-v1/TEST_AK/2024-01-01T00:00:00Z/1800/content-length;content-type;host;x-bce-date/fe75a99c820f547d1cfdc30347f783e825874f1fb41b89e1658277bdfe68fd33',
    );
  });

  it('verifies it, and rejects a wrong secret, another host or a header named but not sent', () => {
    const auth = parseBceAuthorization(signBceRequest(rebootRequest, rebootSigning).authorization)!;
    expect(bceSignatureMatches(rebootRequest, auth, 'TEST_SK')).toBe(true);
    expect(bceSignatureMatches(rebootRequest, auth, 'TEST_SK2')).toBe(false);
    const otherHost = { ...rebootRequest, headers: { ...rebootRequest.headers, host: 'bcc.gz.baidubce.com' } };
    expect(bceSignatureMatches(otherHost, auth, 'TEST_SK')).toBe(false);
    const { 'x-bce-date': _dropped, ...withoutDate } = rebootRequest.headers;
    expect(bceSignatureMatches({ ...rebootRequest, headers: withoutDate }, auth, 'TEST_SK')).toBe(false);
    expect(bceSignatureMatches({ ...rebootRequest, query: [['stop', '']] }, auth, 'TEST_SK')).toBe(false);
  });
});

interface SdkAuth {
  generateAuthorization(
    method: string,
    resource: string,
    params: Record<string, string | null>,
    headers: Record<string, string>,
    timestampSeconds: number,
    expirationSeconds: number,
    headersToSign: string[],
  ): string;
}

describe('cross-check with @baiducloud/sdk src/auth.js', () => {
  const require = createRequire(import.meta.url);
  const Auth = require('@baiducloud/sdk/src/auth.js') as new (ak: string, sk: string) => SdkAuth;
  const seconds = (iso: string): number => Date.parse(iso) / 1000;

  it('produces the same Authorization for the reboot request, byte for byte', () => {
    const sdk = new Auth('TEST_AK', 'TEST_SK').generateAuthorization(
      'PUT',
      '/v2/instance/i-YufwpQAe',
      { reboot: null },
      { ...rebootRequest.headers },
      seconds('2024-01-01T00:00:00Z'),
      1800,
      rebootSigning.signedHeaders,
    );
    expect(signBceRequest(rebootRequest, rebootSigning).authorization).toBe(sdk);
  });

  it('agrees on other hosts, ids, ports, bodies and times', () => {
    const cases = [
      { id: 'i-AbCdEfGh12', host: '127.0.0.1:40123', force: true, at: '2025-06-30T23:59:59Z', ak: 'ak-1', sk: 'sk/with+chars=' },
      { id: 'i-00000000', host: 'bcc.fwh.baidubce.com', force: false, at: '2030-02-28T12:00:01Z', ak: 'A'.repeat(32), sk: 'b'.repeat(32) },
    ];
    for (const c of cases) {
      const body = JSON.stringify({ forceStop: c.force });
      const headers = {
        host: c.host,
        'content-type': 'application/json;charset=utf-8',
        'content-length': String(body.length),
        'x-bce-date': c.at,
      };
      const ours = signBceRequest(
        { method: 'PUT', path: `/v2/instance/${c.id}`, query: [['reboot', '']], headers },
        { accessKeyId: c.ak, secretAccessKey: c.sk, timestamp: c.at, expirationSeconds: 1800, signedHeaders: Object.keys(headers) },
      ).authorization;
      const sdk = new Auth(c.ak, c.sk).generateAuthorization(
        'PUT',
        `/v2/instance/${c.id}`,
        { reboot: null },
        headers,
        seconds(c.at),
        1800,
        Object.keys(headers),
      );
      expect(ours).toBe(sdk);
    }
  });

  it('agrees on the bodiless status read used by dry run (host;x-bce-date)', () => {
    const headers = { host: 'bcc.bj.baidubce.com', 'x-bce-date': '2024-01-01T00:00:00Z' };
    const ours = signBceRequest(
      { method: 'GET', path: '/v2/instance/i-YufwpQAe', query: [], headers },
      { ...rebootSigning, signedHeaders: ['host', 'x-bce-date'] },
    ).authorization;
    const sdk = new Auth('TEST_AK', 'TEST_SK').generateAuthorization(
      'GET',
      '/v2/instance/i-YufwpQAe',
      {},
      headers,
      seconds('2024-01-01T00:00:00Z'),
      1800,
      ['host', 'x-bce-date'],
    );
    expect(ours).toBe(sdk);
  });
});

describe('createBaiduSigner: the request signer the client uses (one shape for every cloud)', () => {
  const signer = createBaiduSigner({ credentials: { accessKeyId: 'TEST_AK', secretAccessKey: 'TEST_SK' } });
  const signingDate = new Date('2024-01-01T00:00:00Z');

  it('reproduces the Appendix A reboot vector from the request alone: host, x-bce-date and content-length are its own', () => {
    const signed = signer.sign(
      {
        method: 'PUT',
        origin: 'https://bcc.bj.baidubce.com',
        path: '/v2/instance/i-YufwpQAe',
        query: [['reboot', '']],
        headers: { 'content-type': 'application/json;charset=utf-8' },
        body: JSON.stringify({ forceStop: false }),
      },
      { signingDate },
    );
    expect(signed.headers).toEqual({ ...rebootRequest.headers, authorization: signBceRequest(rebootRequest, rebootSigning).authorization });
    expect(signed.headers['authorization']).toBe(
      'bce-auth-v1/TEST_AK/2024-01-01T00:00:00Z/1800/content-length;content-type;host;x-bce-date/fe75a99c820f547d1cfdc30347f783e825874f1fb41b89e1658277bdfe68fd33',
    );
    expect(signed.signature).toBe('fe75a99c820f547d1cfdc30347f783e825874f1fb41b89e1658277bdfe68fd33');
    // The query goes on the wire as the reboot page writes it; the server canonicalises it to reboot=.
    expect(signed.url.href).toBe('https://bcc.bj.baidubce.com/v2/instance/i-YufwpQAe?reboot');
  });

  it('signs a bodiless read with host;x-bce-date only, as the SDK does, and the simulator check accepts it', () => {
    const signed = signer.sign({ method: 'GET', origin: 'https://bcc.bj.baidubce.com', path: '/v2/instance/i-YufwpQAe', query: [], headers: {} }, { signingDate });
    const require = createRequire(import.meta.url);
    const Auth = require('@baiducloud/sdk/src/auth.js') as new (ak: string, sk: string) => SdkAuth;
    const sdk = new Auth('TEST_AK', 'TEST_SK').generateAuthorization(
      'GET',
      '/v2/instance/i-YufwpQAe',
      {},
      { host: 'bcc.bj.baidubce.com', 'x-bce-date': '2024-01-01T00:00:00Z' },
      Date.parse('2024-01-01T00:00:00Z') / 1000,
      1800,
      ['host', 'x-bce-date'],
    );
    expect(signed.headers['authorization']).toBe(sdk);
    expect(signed.headers).not.toHaveProperty('content-length');
    expect(signed.url.href).toBe('https://bcc.bj.baidubce.com/v2/instance/i-YufwpQAe');
    const auth = parseBceAuthorization(signed.headers['authorization'] ?? '')!;
    const received: BceRequest = { method: 'GET', path: signed.url.pathname, query: [], headers: signed.headers };
    expect(bceSignatureMatches(received, auth, 'TEST_SK')).toBe(true);
    expect(bceSignatureMatches({ ...received, path: '/v2/instance/i-Other001' }, auth, 'TEST_SK')).toBe(false);
  });
});

describe('cross-check with @baiducloud/sdk src/auth.js: the describe requests, exactly as the client sends them', () => {
  const require = createRequire(import.meta.url);
  const Auth = require('@baiducloud/sdk/src/auth.js') as new (ak: string, sk: string) => SdkAuth;
  const signingDate = new Date('2024-01-01T00:00:00Z');

  /** The SDK's Authorization for what our signer put on the wire: same method, path, query, headers. */
  function sdkAuthorization(ak: string, sk: string, signed: ReturnType<ReturnType<typeof createBaiduSigner>['sign']>): string {
    const { authorization: _ours, ...sent } = signed.headers;
    return new Auth(ak, sk).generateAuthorization(
      signed.method,
      signed.url.pathname,
      Object.fromEntries(signed.query),
      sent,
      signingDate.getTime() / 1000,
      1800,
      Object.keys(sent),
    );
  }

  it('listByInstanceId, first page: POST ?maxKeys=1000 with the JSON body; content-length, content-type, host, x-bce-date signed', () => {
    const signer = createBaiduSigner({ credentials: { accessKeyId: 'TEST_AK', secretAccessKey: 'TEST_SK' } });
    const body = listBody(['i-5polAZSW', 'i-q490RD6t']);
    expect(body).toBe('{"instanceIds":["i-5polAZSW","i-q490RD6t"]}');
    const signed = signer.sign(listRequest('https://bcc.bj.baidubce.com', body), { signingDate });
    expect(signed.url.href).toBe('https://bcc.bj.baidubce.com/v2/instance/listByInstanceId?maxKeys=1000');
    expect(signed.body).toBe(body);
    expect(signed.headers).toMatchObject({
      host: 'bcc.bj.baidubce.com',
      'content-type': 'application/json;charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'x-bce-date': '2024-01-01T00:00:00Z',
    });
    expect(signed.headers['authorization']).toMatch(/^bce-auth-v1\/TEST_AK\/2024-01-01T00:00:00Z\/1800\/content-length;content-type;host;x-bce-date\/[0-9a-f]{64}$/);
    expect(signed.headers['authorization']).toBe(sdkAuthorization('TEST_AK', 'TEST_SK', signed));
    // And the simulator's check accepts it, but not with another page's query.
    const auth = parseBceAuthorization(signed.headers['authorization'] ?? '')!;
    const received: BceRequest = { method: 'POST', path: signed.url.pathname, query: [['maxKeys', '1000']], headers: signed.headers };
    expect(bceSignatureMatches(received, auth, 'TEST_SK')).toBe(true);
    expect(bceSignatureMatches({ ...received, query: [['maxKeys', '1']] }, auth, 'TEST_SK')).toBe(false);
  });

  it('listByInstanceId, a later page (marker) on another host, key and body', () => {
    const signer = createBaiduSigner({ credentials: { accessKeyId: 'A'.repeat(32), secretAccessKey: 'sk/with+chars=' } });
    const body = listBody(['i-AbCdEfGh12', 'i-00000000', 'i-Zx81kLm2']);
    const signed = signer.sign(listRequest('http://127.0.0.1:40123', body, 'i-00000000'), { signingDate });
    expect(signed.url.href).toBe('http://127.0.0.1:40123/v2/instance/listByInstanceId?marker=i-00000000&maxKeys=1000');
    expect(signed.headers['host']).toBe('127.0.0.1:40123');
    expect(signed.headers['authorization']).toBe(sdkAuthorization('A'.repeat(32), 'sk/with+chars=', signed));
  });

  it('the detail read of the fallback: GET /v2/instance/{id}, no query, host;x-bce-date', () => {
    const signer = createBaiduSigner({ credentials: { accessKeyId: 'TEST_AK', secretAccessKey: 'TEST_SK' } });
    const signed = signer.sign(detailRequest('https://bcc.gz.baidubce.com', 'i-YufwpQAe'), { signingDate });
    expect(signed.url.href).toBe('https://bcc.gz.baidubce.com/v2/instance/i-YufwpQAe');
    expect(signed.headers['authorization']).toMatch(/\/1800\/host;x-bce-date\/[0-9a-f]{64}$/);
    expect(signed.headers['authorization']).toBe(sdkAuthorization('TEST_AK', 'TEST_SK', signed));
  });
});

describe('an STS key: x-bce-security-token', () => {
  const token = 'ZjkyZDZkZWZlNjYxNDBlZjhjZDg3YzA1Y2Q2OGExMTJ8AAAAAA==';
  const signer = createBaiduSigner({ credentials: { accessKeyId: 'STS_AK', secretAccessKey: 'STS_SK', securityToken: token } });
  const signingDate = new Date('2024-01-01T00:00:00Z');
  const require = createRequire(import.meta.url);
  const Auth = require('@baiducloud/sdk/src/auth.js') as new (ak: string, sk: string) => SdkAuth;

  it('sends the token and signs it among the headers it names, as bce-sdk-go does; the SDK Auth given the same list agrees', () => {
    const signed = signer.sign({ method: 'GET', origin: 'https://bcc.bj.baidubce.com', path: '/v2/instance/i-YufwpQAe', query: [], headers: {} }, { signingDate });
    expect(signed.headers['x-bce-security-token']).toBe(token);
    expect(signed.headers['authorization']).toMatch(/^bce-auth-v1\/STS_AK\/2024-01-01T00:00:00Z\/1800\/host;x-bce-date;x-bce-security-token\/[0-9a-f]{64}$/);
    const sdk = new Auth('STS_AK', 'STS_SK').generateAuthorization(
      'GET',
      '/v2/instance/i-YufwpQAe',
      {},
      { host: 'bcc.bj.baidubce.com', 'x-bce-date': '2024-01-01T00:00:00Z', 'x-bce-security-token': token },
      Date.parse('2024-01-01T00:00:00Z') / 1000,
      1800,
      ['host', 'x-bce-date', 'x-bce-security-token'],
    );
    expect(signed.headers['authorization']).toBe(sdk);
    const auth = parseBceAuthorization(signed.headers['authorization'] ?? '')!;
    const received: BceRequest = { method: 'GET', path: '/v2/instance/i-YufwpQAe', query: [], headers: signed.headers };
    expect(bceSignatureMatches(received, auth, 'STS_SK')).toBe(true);
    expect(bceSignatureMatches({ ...received, headers: { ...signed.headers, 'x-bce-security-token': 'swapped' } }, auth, 'STS_SK')).toBe(false);
  });

  it('the JS SDK signs it even with its default list: every x-bce-* header is signed (auth.js headersCanonicalization)', () => {
    // bce_base_client.js sets x-bce-security-token and calls generateAuthorization without headersToSign.
    const sdk = new Auth('STS_AK', 'STS_SK').generateAuthorization(
      'GET',
      '/v2/instance/i-YufwpQAe',
      {},
      { host: 'bcc.bj.baidubce.com', 'x-bce-date': '2024-01-01T00:00:00Z', 'x-bce-security-token': token },
      Date.parse('2024-01-01T00:00:00Z') / 1000,
      1800,
      [],
    );
    const ours = signer.sign({ method: 'GET', origin: 'https://bcc.bj.baidubce.com', path: '/v2/instance/i-YufwpQAe', query: [], headers: {} }, { signingDate });
    expect(sdk).toBe(ours.headers['authorization']);
  });
});
