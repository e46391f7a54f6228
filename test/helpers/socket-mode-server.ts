/**
 * A loopback stand-in for Slack's Socket Mode endpoint: it greets with `hello`, delivers envelopes
 * (slash commands, interactive payloads) and collects the app's acknowledgements.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { waitFor } from './harness.js';

export interface Ack {
  envelope_id: string;
  payload?: Record<string, unknown>;
}

export class SocketModeServer {
  private readonly wss: WebSocketServer;
  private socket: WebSocket | undefined;
  readonly acks: Ack[] = [];
  private counter = 0;

  private constructor(wss: WebSocketServer) {
    this.wss = wss;
    wss.on('connection', (socket) => {
      this.socket = socket;
      socket.on('message', (data: Buffer) => this.acks.push(JSON.parse(data.toString('utf8')) as Ack));
      socket.send(JSON.stringify({ type: 'hello', num_connections: 1, connection_info: { app_id: 'A0FAKE' } }));
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

  /** Sends one envelope and resolves with the app's acknowledgement of it. */
  async deliver(type: 'slash_commands' | 'interactive', payload: Record<string, unknown>): Promise<Ack> {
    const socket = await waitFor(() => this.socket, 'the app to connect over Socket Mode');
    this.counter += 1;
    const envelopeId = `env-${this.counter}`;
    socket.send(JSON.stringify({ envelope_id: envelopeId, type, payload, accepts_response_payload: type === 'slash_commands' }));
    return waitFor(() => this.acks.find((a) => a.envelope_id === envelopeId), `ack of ${envelopeId}`);
  }

  async stop(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
