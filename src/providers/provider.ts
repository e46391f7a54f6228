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
  /** Instance ids per reboot call. */
  maxBatch: number;
  /** Instance ids per read call (`Provider.describe`). */
  maxDescribe: number;
  limits: RateLimits;
  /**
   * True when the API honours an idempotency token, so a batch whose answer was lost may be
   * sent again with the same key without rebooting twice.
   */
  resendSafe: boolean;
  /**
   * True when every read carries a time the cloud moves on each reboot (InstanceClock.provesReboot): a read proves the
   * reboot whenever it comes, so verification skips the early look meant to catch a short reboot's transition.
   */
  clockProvesReboot?: boolean;
}

export interface RebootCall {
  region: string;
  ids: readonly string[];
  force: boolean;
  /** Stable for one batch of one job across retries and restarts (`<jobId>-b<seq>`). */
  idempotencyKey: string;
}

/**
 * What happened to one instance.
 * - succeeded: the cloud accepted (sync APIs) or finished (async APIs) the reboot;
 * - checked: dry run; a real run would reboot it (the read found it running and unlocked);
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
  /**
   * The cloud's clock when it accepted the call (epoch ms, from the HTTP `Date` header of the accepting answer),
   * so a reboot is proven against the cloud's own time fields without trusting the bot host's clock.
   */
  serverTime?: number;
}

// ---- reads: pre-flight, dry run, verification ------------------------------------------------------

/**
 * A cloud status normalised:
 * - running: up, and a reboot may be sent;
 * - stopped: powered off; a reboot would be refused;
 * - transitioning: starting, stopping, rebooting, being created…;
 * - locked: the cloud refuses operations on it (Alibaba OperationLocks, Huawei `locked` or EcmResStatus freeze);
 * - other: anything else (error, resizing, …): a reboot would most likely be refused.
 */
export type InstancePhase = 'running' | 'stopped' | 'transitioning' | 'locked' | 'other';

/** A time field the cloud keeps per instance ("last started", "updated"), as read. */
export interface InstanceClock {
  /** The cloud's field name: StartTime, UpdatedAt, updated. */
  field: string;
  /** Verbatim, for the thread and the audit trail. */
  raw: string;
  /** Epoch ms. */
  at: number;
  /** The field's granularity: 60 000 for Alibaba's minute-precision StartTime, 1 000 for whole seconds. */
  precisionMs: number;
  /**
   * True when the cloud's verification recipe counts this field moving past the reboot call as proof of the reboot
   * (Alibaba StartTime, Volcengine UpdatedAt); false for a field that moves for other reasons too (Huawei `updated`).
   */
  provesReboot: boolean;
}

export type InstanceReading =
  /** The cloud does not know the id (or keeps it only as deleted/recycled, named by `rawStatus`). */
  | { id: string; found: false; rawStatus?: string }
  | {
      id: string;
      found: true;
      /** Display name; null when the cloud gives none. */
      name: string | null;
      phase: InstancePhase;
      /** The cloud's own status value(s), e.g. "Running", "ACTIVE / task rebooting". */
      rawStatus: string;
      /**
       * The status is one the cloud shows while a reboot is under way (Alibaba Stopping/Starting, Volcengine
       * REBOOTING/STOPPING/STARTING, Baidu Starting/Stopping, Huawei REBOOT/HARD_REBOOT or task_state reboot*).
       * Seen after a reboot call was accepted, it proves that reboot happened.
       */
      rebooting: boolean;
      /** Why the cloud locks it (e.g. "financial"), when phase is 'locked'. */
      lockReason?: string;
      clock?: InstanceClock;
    };

export interface DescribeCall {
  region: string;
  /** At most info.maxDescribe. */
  ids: readonly string[];
}

export type DescribeResult =
  /** One reading per id the cloud answered for; an id left out could not be read (it is not "not found"). */
  | { kind: 'read'; readings: InstanceReading[]; serverTime?: number }
  /** The read failed as a whole: throttled, no permission, network, an unreadable answer. */
  | { kind: 'error'; code: string; message: string; throttled: boolean };

/** A server-side check that a real reboot would be authorised, where the cloud offers one (Alibaba DryRun). */
export type PermissionCheck =
  | { kind: 'allowed'; detail: string }
  | { kind: 'denied'; code: string; message: string }
  /** The check itself did not answer clearly (throttled, 5xx, network): nothing can be said. */
  | { kind: 'unclear'; reason: string };

export interface PermissionCall {
  region: string;
  ids: readonly string[];
  force: boolean;
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
  /**
   * Reads the instances' state: never mutates, so it may be repeated freely. Never throws: failures come back as
   * `{ kind: 'error' }`. Throttling is retried inside like any call.
   */
  describe(call: DescribeCall): Promise<DescribeResult>;
  /** Where the cloud documents a dry-run flag on the reboot call itself (Alibaba): would a real call be allowed? */
  checkPermission?(call: PermissionCall): Promise<PermissionCheck>;
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
  /** Told of every reboot, poll and describe call once it has its outcomes (timing for metrics). */
  onCall?: CallObserver;
}
