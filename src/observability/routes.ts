/**
 * GET /metrics and GET /readyz, served by the Bolt app's own HTTP listener beside /healthz in both transports
 * (customRoutes, https://tools.slack.dev/bolt-js/concepts/custom-routes).
 */
import type { CustomRoute } from '@slack/bolt';
import type { ServerResponse } from 'node:http';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { BotMetrics } from './metrics.js';
import type { Readiness } from './readiness.js';

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export function observabilityRoutes(metrics: BotMetrics, readiness: Readiness, log: Logger): CustomRoute[] {
  return [
    {
      path: '/metrics',
      method: ['GET'],
      handler: (_req, res) => {
        metrics.scrape().then(
          ({ contentType, body }) => {
            res.writeHead(200, { 'content-type': contentType });
            res.end(body);
          },
          (err: unknown) => {
            log.error('metrics scrape failed', { error: errorMessage(err) });
            sendJson(res, 500, { ok: false, reason: 'metrics could not be collected' });
          },
        );
      },
    },
    {
      path: '/readyz',
      method: ['GET'],
      handler: (_req, res) => {
        readiness.check().then(
          (report) => {
            if (report.ok) sendJson(res, 200, { ok: true });
            else sendJson(res, 503, { ok: false, reason: report.problems.map((p) => p.reason).join('; '), problems: report.problems });
          },
          (err: unknown) => sendJson(res, 503, { ok: false, reason: `readiness check failed: ${errorMessage(err)}` }),
        );
      },
    },
  ];
}
