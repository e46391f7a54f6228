/**
 * Building blocks shared by the provider simulators: a loopback HTTP server, a fleet of instances
 * that really go through a reboot, and a queue of injected faults. Each simulator speaks its own
 * cloud's wire format and signature on top of these.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from '../net/read-body.js';

/**
 * The lifecycle every simulated cloud shares; each simulator names these states its own way (Alibaba
 * Stopping/Starting, Volcengine REBOOTING, Baidu Starting, Huawei REBOOT with a task state).
 */
export type FleetState = 'running' | 'stopping' | 'starting' | 'stopped';

export interface SimulatedInstance {
  id: string;
  region: string;
  /** Display name, as the read calls return it. */
  name: string;
  state: FleetState;
  /** How many reboots the cloud has started on this instance: tests assert "exactly once". */
  rebootCount: number;
  lastForce?: boolean;
  /** Epoch ms of the last boot: a reboot moves it when the instance is running again (Alibaba StartTime). */
  startedAt: number;
  /** Epoch ms of the last state change (Volcengine UpdatedAt, Huawei updated). */
  updatedAt: number;
  /** Set: the cloud refuses every operation on it, for this reason (Alibaba OperationLocks, e.g. "financial"). */
  lockReason?: string;
  /** A reboot leaves it `starting` for ever: the machine that never comes back. */
  neverComesBack?: boolean;
}

export interface InstanceOptions {
  name?: string;
  lockReason?: string;
  neverComesBack?: boolean;
}

/** A day before the simulator started: old enough that any reboot visibly moves the time fields. */
const BOOTED_LONG_AGO_MS = 24 * 3_600_000;

/**
 * Instances of one simulated account. A reboot holds the instance in `stopping` for the first half of `rebootMs`
 * and in `starting` for the second, then it runs again with its start and update times moved.
 */
export class Fleet {
  private readonly instances = new Map<string, SimulatedInstance>();
  constructor(
    public rebootMs = 200,
    private readonly clock: () => number = Date.now,
  ) {}

  add(region: string, id: string, state: FleetState = 'running', options: InstanceOptions = {}): SimulatedInstance {
    const bootedAt = this.clock() - BOOTED_LONG_AGO_MS;
    const instance: SimulatedInstance = {
      id,
      region,
      name: options.name ?? defaultName(id),
      state,
      rebootCount: 0,
      startedAt: bootedAt,
      updatedAt: bootedAt,
      ...(options.lockReason === undefined ? {} : { lockReason: options.lockReason }),
      ...(options.neverComesBack ? { neverComesBack: true } : {}),
    };
    this.instances.set(key(region, id), instance);
    return instance;
  }

  get(region: string, id: string): SimulatedInstance | undefined {
    return this.instances.get(key(region, id));
  }

  /** For clouds whose requests do not name the region (Baidu, Huawei behind one endpoint). */
  findById(id: string): SimulatedInstance | undefined {
    return this.all().find((i) => i.id === id);
  }

  all(): SimulatedInstance[] {
    return [...this.instances.values()];
  }

  /** Starts a reboot: the caller has checked that the instance is running and not locked. */
  reboot(instance: SimulatedInstance, force: boolean): void {
    this.move(instance, 'stopping');
    instance.rebootCount += 1;
    instance.lastForce = force;
    const half = Math.max(1, Math.floor(this.rebootMs / 2));
    setTimeout(() => {
      if (instance.state === 'stopping') this.move(instance, 'starting');
    }, half).unref();
    if (instance.neverComesBack) return;
    setTimeout(() => {
      if (instance.state !== 'starting' && instance.state !== 'stopping') return;
      this.move(instance, 'running');
      instance.startedAt = instance.updatedAt;
    }, this.rebootMs).unref();
  }

  totalReboots(): number {
    return this.all().reduce((sum, i) => sum + i.rebootCount, 0);
  }

  private move(instance: SimulatedInstance, state: FleetState): void {
    instance.state = state;
    instance.updatedAt = this.clock();
  }
}

/** A readable name from the id's tail, like the names people give machines: web-a001. */
function defaultName(id: string): string {
  return `web-${id.replace(/[^a-z0-9]/gi, '').slice(-4).toLowerCase()}`;
}

function key(region: string, id: string): string {
  return `${region}\u0000${id}`;
}

/** A fault the next matching request meets instead of (or before) normal handling. */
export type Fault =
  | { kind: 'throttle'; count: number; retryAfterSeconds?: number }
  | { kind: 'server-error'; count: number; status?: number }
  | { kind: 'latency'; count: number; ms: number }
  /** Handles the request fully, then drops the connection without answering: an ambiguous failure. */
  | { kind: 'drop-response'; count: number }
  /**
   * Carries the reboot out, then answers this 5xx, as a gateway does when the cloud acted but the reply
   * was lost behind it. `body` replaces the cloud's own 5xx error body (e.g. a proxy's HTML page).
   * Only the mutating call takes it; reads are left alone.
   */
  | { kind: 'actThenFail'; count: number; status: 500 | 502 | 503 | 504; body?: string }
  /** Carries the reboot out, then answers 2xx with a body the client cannot read (default: JSON cut short). */
  | { kind: 'actThenMalformed'; count: number; body?: string };

export class FaultQueue {
  private readonly faults: Fault[] = [];

  inject(fault: Fault): void {
    this.faults.push({ ...fault });
  }

  clear(): void {
    this.faults.length = 0;
  }

  /** Takes the fault of the given kinds at the head of the queue, if any, counting it down. */
  take<K extends Fault['kind']>(kind: K): Extract<Fault, { kind: K }> | undefined {
    const fault = this.faults.find((f) => f.kind === kind);
    if (!fault) return undefined;
    fault.count -= 1;
    if (fault.count <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
    return fault as Extract<Fault, { kind: K }>;
  }

  /**
   * For a mutating call the cloud has just carried out: the bad answer an actThenFail or actThenMalformed
   * fault asks for instead of `answer`, or undefined when none is queued. `ownError` is the cloud's own
   * 5xx error body for a status; `answer`'s headers (request ids) are kept either way.
   */
  answerAfterAct(answer: SimulatorResponse, ownError: (status: number) => unknown): SimulatorResponse | undefined {
    const fault = this.faults.find((f) => f.kind === 'actThenFail' || f.kind === 'actThenMalformed');
    if (fault?.kind === 'actThenFail') {
      this.take('actThenFail');
      return { status: fault.status, ...(answer.headers ? { headers: answer.headers } : {}), body: fault.body ?? ownError(fault.status) };
    }
    if (fault?.kind === 'actThenMalformed') {
      this.take('actThenMalformed');
      return { status: 200, ...(answer.headers ? { headers: answer.headers } : {}), body: fault.body ?? FaultQueue.cutShort(answer.body) };
    }
    return undefined;
  }

  /** The real answer cut in half; an empty body is a success of its own (BCC), so it gets a stub to choke on. */
  private static cutShort(body: unknown): string {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return text.length > 2 ? text.slice(0, Math.ceil(text.length / 2)) : '{"';
  }
}

export interface SimulatorRequest {
  method: string;
  /** Raw path and raw query string as they came on the wire (no re-encoding). */
  path: string;
  query: string;
  headers: Record<string, string>;
  body: string;
}

/** What a simulator recorded about one request: enough for tests to check signing from outside. */
export interface RecordedRequest extends SimulatorRequest {
  status: number;
}

export interface SimulatorResponse {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Sees a request before the simulator handles it. Handling waits for a returned promise (a harness
 * can hold a request in flight); 'drop' closes the connection with the request neither handled nor
 * answered.
 */
export type RequestObserver = (req: SimulatorRequest) => void | 'drop' | Promise<void | 'drop'>;

/** Told once an answer has been handed to the operating system (the client may not have read it yet). */
export type ResponseObserver = (req: SimulatorRequest, res: { status: number; body: string }) => void;

/** Watchers a crash-trial harness attaches from outside; none by default. */
export interface SimulatorObservers {
  request: RequestObserver[];
  responded: ResponseObserver[];
}

async function observeRequest(observers: SimulatorObservers, req: SimulatorRequest): Promise<void | 'drop'> {
  for (const observer of [...observers.request]) {
    if ((await observer(req)) === 'drop') return 'drop';
  }
  return undefined;
}

/**
 * Starts a loopback HTTP server around `handle`. Latency and drop-response faults are applied here
 * so every simulator gets them the same way; throttling and 5xx bodies are cloud-specific.
 */
export async function serveSimulator(
  handle: (req: SimulatorRequest) => SimulatorResponse | Promise<SimulatorResponse>,
  faults: FaultQueue,
  recorded: RecordedRequest[],
  port = 0,
  observers?: SimulatorObservers,
): Promise<RunningServer> {
  const server: Server = createServer((req, res) => {
    void respond(req, res);
  });
  async function respond(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const simReq: SimulatorRequest = {
      method: req.method ?? 'GET',
      path: q === -1 ? rawUrl : rawUrl.slice(0, q),
      query: q === -1 ? '' : rawUrl.slice(q + 1),
      headers: flattenHeaders(req.headers),
      body,
    };
    if (observers && (await observeRequest(observers, simReq)) === 'drop') {
      req.socket.destroy();
      return;
    }

    const latency = faults.take('latency');
    if (latency) await new Promise((r) => setTimeout(r, latency.ms));
    let answer: SimulatorResponse;
    try {
      answer = await handle(simReq);
    } catch (err) {
      answer = { status: 500, body: { error: 'simulator failure', detail: String(err) } };
    }
    recorded.push({ ...simReq, status: answer.status });
    if (faults.take('drop-response')) {
      req.socket.destroy();
      return;
    }
    const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    res.writeHead(answer.status, { 'content-type': 'application/json;charset=utf-8', ...answer.headers });
    res.end(text, () => {
      for (const observer of observers?.responded ?? []) observer(simReq, { status: answer.status, body: text });
    });
  }
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function flattenHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  return out;
}

/** The Retry-After header a throttle fault asks for, if it names a delay. */
export function retryAfterHeaders(throttle: Extract<Fault, { kind: 'throttle' }>): Record<string, string> | undefined {
  return throttle.retryAfterSeconds === undefined ? undefined : { 'retry-after': String(throttle.retryAfterSeconds) };
}

/** The value of the first query parameter called `name` (RPC-style APIs). */
export function firstValue(pairs: ReadonlyArray<readonly [string, string]>, name: string): string | undefined {
  return pairs.find(([n]) => n === name)?.[1];
}

/** An RPC-style boolean parameter: false when absent, undefined when present but neither "true" nor "false". */
export function parseQueryBoolean(value: string | undefined): boolean | undefined {
  if (value === undefined || value === 'false') return false;
  return value === 'true' ? true : undefined;
}

/** What local mode and the end-to-end tests need from every provider simulator. */
export interface ProviderSimulator {
  readonly fleet: Fleet;
  readonly faults: FaultQueue;
  readonly requests: RecordedRequest[];
  /** The account's keys, where the simulator can rotate keys and expire tokens (the four built-in clouds). */
  readonly accounts?: SimulatedKeys;
  /** Starts listening on loopback and returns the base URL, e.g. http://127.0.0.1:40123. */
  start(port?: number): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The common half of every simulator: its fleet, fault queue, request log and loopback server.
 * A cloud's simulator adds only `handle`, which speaks that cloud's wire format and signature.
 */
export abstract class SimulatorServer implements ProviderSimulator {
  readonly fleet: Fleet;
  readonly faults = new FaultQueue();
  readonly requests: RecordedRequest[] = [];
  private server: RunningServer | undefined;
  private readonly observers: SimulatorObservers = { request: [], responded: [] };

  constructor(rebootMs?: number) {
    this.fleet = new Fleet(rebootMs);
  }

  /** Watches (and may hold or drop) every request before it is handled; returns a function that removes the watcher. */
  onRequest(observer: RequestObserver): () => void {
    return addObserver(this.observers.request, observer);
  }

  /** Watches every answer once it is written; returns a function that removes the watcher. */
  onResponded(observer: ResponseObserver): () => void {
    return addObserver(this.observers.responded, observer);
  }

  protected abstract handle(req: SimulatorRequest): SimulatorResponse | Promise<SimulatorResponse>;

  async start(port?: number): Promise<string> {
    if (this.server) return this.server.url;
    this.server = await serveSimulator((req) => this.handle(req), this.faults, this.requests, port, this.observers);
    return this.server.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.close();
  }
}

function addObserver<T>(list: T[], observer: T): () => void {
  list.push(observer);
  return () => {
    const index = list.indexOf(observer);
    if (index !== -1) list.splice(index, 1);
  };
}

// ---- accounts: key pairs and temporary keys' tokens ---------------------------------------------------

/** What a simulated gateway finds about a request's security token, before the API runs. */
export type TokenCheck = 'ok' | 'missing' | 'wrong' | 'expired' | 'unsigned';

/**
 * The keys a simulated cloud knows. A key registered with a token is a temporary (STS) key: every request signed
 * with it must carry that token, and where the cloud requires it signed, among the signed headers. Tests rotate
 * keys (add the new, remove the old) and expire tokens between calls.
 */
export class SimulatedKeys {
  private readonly secrets = new Map<string, string>();
  private readonly tokens = new Map<string, { token: string; expired: boolean }>();

  constructor(secrets: Readonly<Record<string, string>>, tokens: Readonly<Record<string, string>> = {}) {
    for (const [keyId, secret] of Object.entries(secrets)) this.secrets.set(keyId, secret);
    for (const [keyId, token] of Object.entries(tokens)) this.tokens.set(keyId, { token, expired: false });
  }

  secretOf(keyId: string): string | undefined {
    return this.secrets.get(keyId);
  }

  /** Registers (or replaces) a key; with a token it is a temporary key. */
  add(keyId: string, secret: string, token?: string): void {
    this.secrets.set(keyId, secret);
    if (token === undefined) this.tokens.delete(keyId);
    else this.tokens.set(keyId, { token, expired: false });
  }

  /** The key stops working (rotated away, deleted). */
  remove(keyId: string): void {
    this.secrets.delete(keyId);
    this.tokens.delete(keyId);
  }

  /** The key's token passes its expiration: the cloud answers its expired-token error from now on. */
  expireToken(keyId: string): void {
    const entry = this.tokens.get(keyId);
    if (entry) entry.expired = true;
  }

  /**
   * `received` is the token header's value (undefined when absent); `signed` whether it was among the signed headers,
   * or undefined where the cloud does not require it signed. A key without a token ignores the header.
   */
  checkToken(keyId: string, received: string | undefined, signed: boolean | undefined): TokenCheck {
    const entry = this.tokens.get(keyId);
    if (!entry) return 'ok';
    if (received === undefined) return 'missing';
    if (signed === false) return 'unsigned';
    if (received !== entry.token) return 'wrong';
    return entry.expired ? 'expired' : 'ok';
  }
}
