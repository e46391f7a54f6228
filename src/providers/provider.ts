/**
 * The provider contract: what the runner needs from every cloud, and nothing more.
 * Static facts (ids, regions, batch size, limits) live in `ProviderInfo` so the command
 * parser can validate requests without credentials or network; the runtime half
 * (`Provider`) is built only for providers whose credentials are configured. A cloud's
 * descriptor (descriptor.ts) holds both halves.
 */
import type { CallObserver } from './guard.js';
import type { RetryPolicy } from './retry.js';

/**
 * A provider's name as its descriptor declares it. Any string type-checks: which names exist depends on the
 * catalog in use, so they are checked at run time where a name comes in (the parser, the configuration file).
 */
export type ProviderName = string;

/** The shape of a provider name; it is also a section key of the configuration file. */
export const PROVIDER_NAME = /^[a-z][a-z0-9-]{0,31}$/;

export interface RateLimits {
  /** Calls in flight at once, per provider and region. */
  maxConcurrent: number;
  /** Minimum spacing between two calls, per provider and region. */
  minTimeMs: number;
  /** Instances the API accepts per minute, per account and region (a reservoir weighted by batch size). */
  instancesPerMinute?: number;
}

export interface ProviderInfo {
  name: ProviderName;
  displayName: string;
  aliases: readonly string[];
  /** Known region ids; config may add more. */
  regions: readonly string[];
  /** Whole-string check of one instance id. */
  isInstanceId(id: string): boolean;
  /** Human description of the id format, shown in errors, e.g. "i- followed by 8-32 lowercase letters or digits". */
  idFormat: string;
  exampleId: string;
  /** Instance ids per API call. */
  maxBatch: number;
  limits: RateLimits;
  /**
   * True when the API honours an idempotency token, so a batch whose answer was lost may be
   * sent again with the same key without rebooting twice.
   */
  resendSafe: boolean;
}

export interface RebootCall {
  region: string;
  ids: readonly string[];
  force: boolean;
  dryRun: boolean;
  /** Stable for one batch of one job across retries and restarts (`<jobId>-b<seq>`). */
  idempotencyKey: string;
}

/**
 * What happened to one instance.
 * - succeeded: the cloud accepted (sync APIs) or finished (async APIs) the reboot;
 * - checked: dry run; the cloud says a real run would reboot it;
 * - failed: the cloud refused it, with the cloud's code and message;
 * - unknown: the request may have reached the cloud but the answer was lost. Never resent blindly.
 */
export type InstanceOutcome =
  | { id: string; status: 'succeeded'; detail?: string }
  | { id: string; status: 'checked'; detail?: string }
  | { id: string; status: 'failed'; code: string; message: string; requestId?: string }
  | { id: string; status: 'unknown'; reason: string };

/** A cloud-side asynchronous job (Huawei) still running for `ids`. */
export interface AsyncJobHandle {
  jobId: string;
  ids: string[];
}

export interface BatchResult {
  /** Final outcomes known now: every id of the call appears in `outcomes` or in `pending.ids`. */
  outcomes: InstanceOutcome[];
  pending?: AsyncJobHandle;
}

export interface PollCall {
  region: string;
  handle: AsyncJobHandle;
  /** Called when the cloud reports progress, e.g. 37 of 40 sub-jobs done. */
  onProgress?: (done: number, total: number) => void;
}

export interface Provider {
  info: ProviderInfo;
  /**
   * Sends one batch (at most info.maxBatch ids). Never throws for cloud or network errors:
   * every id comes back with an outcome (or in `pending`), so the caller can always persist
   * and report a result. Retries of safe-to-retry failures happen inside.
   */
  reboot(call: RebootCall): Promise<BatchResult>;
  /** For async APIs: waits for a cloud job to finish and returns one final outcome per id. */
  poll?(call: PollCall): Promise<InstanceOutcome[]>;
}

/** Options every provider client takes, whatever its cloud. */
export interface ClientOptions<Credentials> {
  credentials: Credentials;
  /** Replaces scheme, host and port for every region (the *_ENDPOINT variables). */
  endpoint?: string;
  retry: RetryPolicy;
  /** Per-request timeout; after it the request counts as ambiguous, not as failed. */
  timeoutMs: number;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  /** Told of every reboot and poll call once it has its outcomes (timing for metrics). */
  onCall?: CallObserver;
}
