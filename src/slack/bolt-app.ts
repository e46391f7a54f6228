/**
 * The Bolt app for one of two transports, HTTP (signed requests on /slack/events) or Socket Mode,
 * with /healthz and the caller's routes (/metrics, /readyz: src/observability/routes.ts) beside it, and a
 * count of listeners still running after their ack so shutdown and tests can wait for them.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, HTTPReceiver, LogLevel, type CustomRoute, type Logger as BoltLogger } from '@slack/bolt';
import type { HealthBoard } from '../health.js';
import type { QuietGate } from '../quiet-gate.js';
import type { Logger } from '../log.js';

/** How far ahead of our clock a Slack request may be stamped; Bolt only checks how old it is. */
const MAX_FUTURE_SKEW_S = 5 * 60;

export interface BoltSettings {
  token: string;
  appToken?: string;
  signingSecret?: string;
  apiUrl?: string;
  port: number;
}

export interface BoltApp {
  app: App;
  /** Resolves when no listener is running. */
  idle(): Promise<void>;
  /** Starts listening; returns the base URL of the HTTP listener. */
  start(): Promise<string>;
}

type RouteResponse = { writeHead(s: number, h?: Record<string, string>): void; end(b: string): void };

export function createBoltApp(settings: BoltSettings, health: HealthBoard, now: () => number, log: Logger, quiet?: QuietGate, routes: readonly CustomRoute[] = []): BoltApp {
  const clientOptions = {
    ...(settings.apiUrl ? { slackApiUrl: settings.apiUrl } : {}),
    // Interactive calls (group lookups, respond) should fail fast rather than queue for minutes.
    retryConfig: { retries: 2, factor: 2, minTimeout: 200, maxTimeout: 2000 },
  };
  const logger = toBoltLogger(log);
  const healthz: CustomRoute = {
    path: '/healthz',
    method: ['GET'],
    handler: (_req: unknown, res: RouteResponse) => {
      const report = health.report();
      res.writeHead(report.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: report.ok ? 'ok' : 'failing', problems: report.problems }));
    },
  };
  let app: App;
  if (settings.appToken) {
    app = new App({ token: settings.token, appToken: settings.appToken, socketMode: true, port: settings.port, customRoutes: [healthz, ...routes], clientOptions, logger });
  } else {
    if (!settings.signingSecret) throw new Error('SLACK_SIGNING_SECRET is required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)');
    const receiver = new HTTPReceiver({ signingSecret: settings.signingSecret, endpoints: '/slack/events', customRoutes: [healthz, ...routes], logger });
    refuseFutureTimestamps(receiver, () => now() / 1000, log);
    app = new App({ token: settings.token, receiver, clientOptions, logger });
  }
  let inflight = 0;
  app.use(async ({ next }) => {
    quiet?.touch();
    inflight += 1;
    try {
      await next();
    } finally {
      inflight -= 1;
    }
  });
  return {
    app,
    async idle() {
      while (inflight > 0) await new Promise((r) => setTimeout(r, 5));
    },
    async start() {
      const started = (await app.start(settings.port)) as unknown;
      return listenUrl(started, settings.port);
    },
  };
}

/**
 * Bolt rejects requests stamped more than five minutes in the past but accepts any future stamp,
 * which leaves a captured request replayable for as long as its stamp is ahead. Slack's own rule is
 * symmetric: https://api.slack.com/authentication/verifying-requests-from-slack
 */
function refuseFutureTimestamps(receiver: HTTPReceiver, nowSeconds: () => number, log: Logger): void {
  const inner = receiver.requestListener;
  receiver.requestListener = (req, res) => {
    const stamp = Number(req.headers['x-slack-request-timestamp']);
    if (Number.isFinite(stamp) && stamp > nowSeconds() + MAX_FUTURE_SKEW_S) {
      log.warn('request refused: timestamp in the future', { aheadSeconds: Math.round(stamp - nowSeconds()) });
      res.writeHead(401, { 'content-type': 'text/plain' });
      res.end('request timestamp is too far in the future');
      return;
    }
    inner(req, res);
  };
}

function listenUrl(started: unknown, fallbackPort: number): string {
  const server = started as Partial<Server> | undefined;
  const address = typeof server?.address === 'function' ? (server.address() as AddressInfo | string | null) : null;
  const port = address && typeof address === 'object' ? address.port : fallbackPort;
  return `http://127.0.0.1:${port}`;
}

function toBoltLogger(log: Logger): BoltLogger {
  let level = LogLevel.INFO;
  const text = (msgs: unknown[]): string => msgs.map((m) => (m instanceof Error ? m.message : typeof m === 'string' ? m : JSON.stringify(m))).join(' ');
  // Bolt logs at debug on every request, with whole payloads: they are formatted only when that level is on, or the
  // formatting alone would tax every acknowledgement.
  return {
    debug: (...m: unknown[]) => {
      if (level === LogLevel.DEBUG) log.debug(text(m), { source: 'bolt' });
    },
    info: (...m: unknown[]) => log.info(text(m), { source: 'bolt' }),
    warn: (...m: unknown[]) => log.warn(text(m), { source: 'bolt' }),
    error: (...m: unknown[]) => log.error(text(m), { source: 'bolt' }),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}
