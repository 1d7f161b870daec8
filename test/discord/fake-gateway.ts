/**
 * The WebSocket half of the loopback Discord: HELLO, IDENTIFY → READY (+ GUILD_CREATE), heartbeats,
 * RESUME → replay + RESUMED, and dispatches with sequence numbers. Dispatches made while the bot is
 * disconnected wait in its session and are replayed on RESUME, as Discord does.
 */
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";

export interface GatewayPayload {
  op: number;
  d?: unknown;
  s?: number | null;
  t?: string | null;
}

interface Session {
  id: string;
  /** Every dispatch of the session, in order; `s` is the index + 1. */
  events: Array<{ t: string; d: unknown }>;
  socket: WebSocket | undefined;
}

export interface GatewayHooks {
  /** READY's `d` for a new session (without session_id / resume_gateway_url). */
  readyData(): Record<string, unknown>;
  /** Dispatches sent right after READY (e.g. GUILD_CREATE). */
  afterReady(): Array<{ t: string; d: unknown }>;
}

export class FakeGateway {
  readonly path = "/gateway";
  /** Every payload the bot sent, in order. */
  readonly received: GatewayPayload[] = [];
  identifies = 0;
  resumes = 0;
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sessions = new Map<string, Session>();
  private current: Session | undefined;
  private nextSession = 1;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly baseUrl: () => string,
    private readonly hooks: GatewayHooks,
    private readonly heartbeatIntervalMs = 41_250,
  ) {}

  attach(server: Server): void {
    server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!request.url?.startsWith(this.path)) {
        socket.destroy();
        return;
      }
      this.wss.handleUpgrade(request, socket, head, (ws) => this.onConnection(ws));
    });
  }

  get url(): string {
    return `${this.baseUrl().replace(/^http/, "ws")}${this.path}`;
  }

  /** Whether a session is connected and identified or resumed. */
  get connected(): boolean {
    return this.current?.socket !== undefined;
  }

  /** Sends (or, while disconnected, keeps for the resume) a dispatch in the current session. */
  dispatch(t: string, d: unknown): void {
    const session = this.current;
    if (!session) throw new Error("no gateway session yet");
    session.events.push({ t, d });
    session.socket?.send(JSON.stringify({ op: 0, t, s: session.events.length, d }));
  }

  /** Closes the bot's connection: 4000 (Discord's "unknown error", resumable) or an abrupt 1006. */
  drop(code: 4000 | 1006 = 4000): void {
    const socket = this.current?.socket;
    if (!socket) return;
    if (code === 1006) socket.terminate();
    else socket.close(code, "dropped by the test");
  }

  /** Resolves once a session is connected (after READY or RESUMED). */
  async waitConnected(timeoutMs = 10_000): Promise<void> {
    if (this.connected) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        reject(new Error("the bot did not connect to the gateway"));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      this.waiters.add(done);
    });
  }

  close(): void {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
  }

  private onConnected(session: Session, ws: WebSocket): void {
    session.socket = ws;
    this.current = session;
    for (const waiter of [...this.waiters]) waiter();
  }

  private onConnection(ws: WebSocket): void {
    let session: Session | undefined;
    const send = (payload: GatewayPayload) => ws.send(JSON.stringify(payload));
    send({ op: 10, d: { heartbeat_interval: this.heartbeatIntervalMs }, s: null, t: null });
    ws.on("message", (raw) => {
      const payload = JSON.parse(String(raw)) as GatewayPayload;
      this.received.push(payload);
      switch (payload.op) {
        case 1:
          send({ op: 11 });
          break;
        case 2: {
          this.identifies++;
          session = { id: `session-${this.nextSession++}`, events: [], socket: undefined };
          this.sessions.set(session.id, session);
          session.events.push({
            t: "READY",
            d: {
              v: 10,
              session_id: session.id,
              resume_gateway_url: this.url,
              ...this.hooks.readyData(),
            },
          });
          send({ op: 0, t: "READY", s: 1, d: session.events[0]!.d });
          this.onConnected(session, ws);
          for (const event of this.hooks.afterReady()) this.dispatch(event.t, event.d);
          break;
        }
        case 6: {
          this.resumes++;
          const { session_id, seq } = payload.d as { session_id: string; seq: number };
          const known = this.sessions.get(session_id);
          if (!known) {
            send({ op: 9, d: false });
            break;
          }
          session = known;
          known.socket?.terminate();
          known.events.slice(seq).forEach((event, i) => {
            send({ op: 0, t: event.t, s: seq + i + 1, d: event.d });
          });
          known.events.push({ t: "RESUMED", d: {} });
          send({ op: 0, t: "RESUMED", s: known.events.length, d: {} });
          this.onConnected(known, ws);
          break;
        }
        default:
          break;
      }
    });
    ws.on("close", () => {
      if (session && session.socket === ws) session.socket = undefined;
    });
  }
}
