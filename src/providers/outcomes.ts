/** Small outcome helpers every provider client needs, kept in one place. */
import type { InstanceOutcome } from './provider.js';

/** A failed outcome; `requestId` is left out when undefined (a client that drops empty ids passes undefined for them). */
export function failedOutcome(id: string, code: string, message: string, requestId?: string): InstanceOutcome {
  return requestId === undefined ? { id, status: 'failed', code, message } : { id, status: 'failed', code, message, requestId };
}

export function failAll(ids: readonly string[], code: string, message: string, requestId?: string): InstanceOutcome[] {
  return ids.map((id) => failedOutcome(id, code, message, requestId));
}

/** An outcome nobody can vouch for: the reboot may or may not have happened, so it is never resent blindly. */
export function unknownOutcome(id: string, reason: string): InstanceOutcome {
  return { id, status: 'unknown', reason };
}

export function unknownAll(ids: readonly string[], reason: string): InstanceOutcome[] {
  return ids.map((id) => unknownOutcome(id, reason));
}

/** JSON.parse that answers `undefined` for a body that is not JSON (a proxy's HTML page, say). */
export function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Cloud messages are echoed to Slack: this removes our secret and our signatures should a cloud
 * ever echo them. Strings shorter than 8 characters are left alone, as they would match by chance.
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  return secrets.filter((s) => s.length >= 8).reduce((out, s) => out.split(s).join('[redacted]'), text);
}

export function redactOutcome(outcome: InstanceOutcome, secrets: readonly string[]): InstanceOutcome {
  const clean = (text: string): string => redactSecrets(text, secrets);
  switch (outcome.status) {
    case 'failed':
      return outcome.requestId === undefined
        ? { ...outcome, code: clean(outcome.code), message: clean(outcome.message) }
        : { ...outcome, code: clean(outcome.code), message: clean(outcome.message), requestId: clean(outcome.requestId) };
    case 'unknown':
      return { ...outcome, reason: clean(outcome.reason) };
    default:
      return outcome.detail === undefined ? outcome : { ...outcome, detail: clean(outcome.detail) };
  }
}
