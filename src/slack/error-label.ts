/**
 * A short, bounded name for a failed Slack Web API call, for metrics and /readyz: the platform error Slack
 * answered (https://api.slack.com/web#responses), or what kind of failure kept it from answering. Never the
 * error's message, which could carry request details.
 */
import { webApi } from '@slack/bolt';

export function slackErrorLabel(err: unknown): string {
  const e = err as { code?: unknown; data?: { error?: unknown }; statusCode?: unknown };
  switch (e.code) {
    case webApi.ErrorCode.PlatformError:
      return typeof e.data?.error === 'string' ? e.data.error : 'platform_error';
    case webApi.ErrorCode.RateLimitedError:
      return 'ratelimited';
    case webApi.ErrorCode.HTTPError:
      return typeof e.statusCode === 'number' ? `http_${e.statusCode}` : 'http_error';
    case webApi.ErrorCode.RequestError:
      return 'request_error';
    default:
      return 'other';
  }
}
