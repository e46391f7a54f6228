/**
 * A loopback stand-in for Slack's Socket Mode endpoint: it greets with `hello`, delivers envelopes
 * (slash commands, interactive payloads) and collects the app's acknowledgements.
 *
 * Like Slack, it takes several connections at once: an app may open up to 10, and Slack spreads the events
 * across them, each envelope going to one connection only (https://api.slack.com/apis/socket-mode). Here the
 * spreading is round-robin over the open connections, so with two replicas connected, two envelopes in a row
 * reach two different replicas; `deliver` can also name the connection.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { waitFor } from './harness.js';

/** Slack's limit of simultaneous Socket Mode connections per app (https://api.slack.com/apis/socket-mode). */
export const MAX_CONNECTIONS = 10;

export interface Ack {
  envelope_id: string;
  payload?: Record<string, unknown>;
  /** Which connection (in order of opening, from 0) the acknowledgement came over: stamped by this server. */
  connection: number;
}

export class SocketModeServer {
  private readonly wss: WebSocketServer;
  /** Every connection ever opened, in order; closed ones stay so that indexes keep naming the same connection. */
  private readonly sockets: WebSocket[] = [];
  readonly acks: Ack[] = [];
  private counter = 0;
  private nextTurn = 0;

  private constructor(wss: WebSocketServer) {
    this.wss = wss;
    wss.on('connection', (socket) => {
      if (this.openConnections().length >= MAX_CONNECTIONS) {
        // Slack refuses an app's connection above its limit; 1008 is the WebSocket "policy violation" close code.
        socket.close(1008, 'too many connections');
        return;
      }
      const index = this.sockets.length;
      this.sockets.push(socket);
      socket.on('message', (data: Buffer) => {
        const ack = JSON.parse(data.toString('utf8')) as Omit<Ack, 'connection'>;
        this.acks.push({ ...ack, connection: index });
      });
      socket.send(JSON.stringify({ type: 'hello', num_connections: this.openConnections().length, connection_info: { app_id: 'A0FAKE' } }));
    });
  }

  static async start(): Promise<SocketModeServer> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    return new SocketModeServer(wss);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/link`;
  }

  /** Indexes of the connections open now. */
  openConnections(): number[] {
    return this.sockets.flatMap((s, i) => (s.readyState === s.OPEN ? [i] : []));
  }

  /** Resolves once at least `count` connections are open. */
  async waitForConnections(count: number, timeoutMs = 10_000): Promise<number[]> {
    return waitFor(() => (this.openConnections().length >= count ? this.openConnections() : undefined), `${count} Socket Mode connection(s)`, timeoutMs);
  }

  /**
   * Sends one envelope and resolves with the app's acknowledgement of it. Without `connection`, the next open
   * connection in turn takes it (round-robin), as Slack spreads events over an app's connections.
   */
  async deliver(type: 'slash_commands' | 'interactive', payload: Record<string, unknown>, connection?: number): Promise<Ack> {
    const index = connection ?? (await this.nextConnection());
    const socket = this.sockets[index];
    if (!socket || socket.readyState !== socket.OPEN) throw new Error(`Socket Mode connection ${index} is not open`);
    this.counter += 1;
    const envelopeId = `env-${this.counter}`;
    socket.send(JSON.stringify({ envelope_id: envelopeId, type, payload, accepts_response_payload: type === 'slash_commands' }));
    return waitFor(() => this.acks.find((a) => a.envelope_id === envelopeId), `ack of ${envelopeId}`);
  }

  private async nextConnection(): Promise<number> {
    const open = await waitFor(() => (this.openConnections().length > 0 ? this.openConnections() : undefined), 'the app to connect over Socket Mode');
    const index = open[this.nextTurn % open.length]!;
    this.nextTurn += 1;
    return index;
  }

  async stop(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
