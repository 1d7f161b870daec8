/**
 * HTTP/1.1 over a plain TCP socket, byte for byte as written: request targets no client library
 * would normalise (`/%61pi/…`, `//`, dot segments), bodies sent a byte at a time, and a view of
 * when the server closes the connection.
 */
import { connect, type Socket } from "node:net";

export interface RawAnswer {
  status: number;
  headers: Map<string, string>;
  body: string;
  // biome-ignore lint/suspicious/noExplicitAny: answers are inspected field by field
  json: any;
}

/** One connection to the server on 127.0.0.1. */
export class RawConnection {
  private readonly socket: Socket;
  private received = Buffer.alloc(0);
  private readonly waiters = new Set<() => void>();
  private trickling: NodeJS.Timeout | undefined;
  /** Resolves when the server (or we) closed the connection. */
  readonly closed: Promise<void>;
  isClosed = false;

  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.on("data", (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.wake();
    });
    this.socket.on("error", () => {}); // a reset is a close, seen below
    this.closed = new Promise((resolve) =>
      this.socket.on("close", () => {
        this.isClosed = true;
        clearInterval(this.trickling);
        this.wake();
        resolve();
      }),
    );
  }

  /** Resolves once connected. */
  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.socket.connecting) return resolve();
      this.socket.once("connect", () => resolve());
      this.socket.once("error", reject);
    });
  }

  write(text: string): void {
    if (!this.isClosed && this.socket.writable) this.socket.write(text);
  }

  /** Sends `text` one byte per `everyMs` until it is all sent or the connection closes. */
  trickle(text: string, everyMs: number): void {
    let next = 0;
    this.trickling = setInterval(() => {
      if (next >= text.length || this.isClosed) return clearInterval(this.trickling);
      this.write(text[next++]!);
    }, everyMs);
  }

  /** The first whole answer on the connection; rejects if none came within `timeoutMs`. */
  async answer(timeoutMs = 15_000): Promise<RawAnswer> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const parsed = parseAnswer(this.received, this.isClosed);
      if (parsed) return parsed;
      if (this.isClosed) throw new Error(`the connection closed without an answer: ${this.text()}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no answer within ${timeoutMs} ms: ${this.text().slice(0, 200)}`);
      await this.change(left);
    }
  }

  /** Whether the connection closed within `ms`; the time it took. */
  async closesWithin(ms: number): Promise<{ closed: boolean; afterMs: number }> {
    const start = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      this.closed.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
    clearTimeout(timer);
    return { closed, afterMs: performance.now() - start };
  }

  /** Everything received so far. */
  text(): string {
    return this.received.toString("latin1");
  }

  destroy(): void {
    clearInterval(this.trickling);
    this.socket.destroy();
  }

  private change(withinMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, withinMs);
      const waiters = this.waiters;
      function done() {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      }
      waiters.add(done);
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

function parseAnswer(received: Buffer, closed: boolean): RawAnswer | undefined {
  const end = received.indexOf("\r\n\r\n");
  if (end === -1) return undefined;
  const [statusLine, ...lines] = received.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "")?.[1] ?? Number.NaN);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  const length = headers.get("content-length");
  const rest = received.subarray(end + 4);
  let bodyBytes: Buffer;
  if (status < 200 || status === 204 || status === 304) {
    bodyBytes = Buffer.alloc(0);
  } else if (length !== undefined) {
    if (rest.length < Number(length)) return undefined;
    bodyBytes = rest.subarray(0, Number(length));
  } else if (headers.get("content-type")?.startsWith("text/event-stream")) {
    bodyBytes = rest; // a stream: its headers are the answer
  } else {
    if (!closed) return undefined;
    bodyBytes = rest;
  }
  const body = bodyBytes.toString("utf8");
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { status, headers, body, json };
}

/** One request on a fresh connection; its answer, and the connection (closed or still open). */
export async function send(
  port: number,
  request: string,
  timeoutMs?: number,
): Promise<{ answer: RawAnswer; connection: RawConnection }> {
  const connection = new RawConnection(port);
  await connection.ready();
  connection.write(request);
  try {
    return { answer: await connection.answer(timeoutMs), connection };
  } catch (error) {
    connection.destroy();
    throw error;
  }
}

/** The text of a request: request line, headers, an empty line and the body. */
export function requestText(
  method: string,
  target: string,
  headers: Record<string, string>,
  body = "",
): string {
  const lines = [`${method} ${target} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return `${lines.join("\r\n")}\r\n\r\n${body}`;
}
