/**
 * `/api/v1`: every user action goes through the chat service, exactly as a Discord or Slack user's
 * would; this file only turns HTTP into `imagine`/`press`/`view` calls and their answers into JSON.
 */
import { Buffer } from "node:buffer";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import type { ButtonAction } from "../../commands/buttons.js";
import type { ChatReply, ChatService, RepaintEdit } from "../../commands/chat.js";
import { loraListing, modelListing } from "../../commands/options.js";
import type { Config } from "../../config.js";
import { type Logger, silentLogger } from "../../logger.js";
import { BUTTON_ZOOM_FACTORS } from "../../pipeline/canvas/index.js";
import type { EncodedImage } from "../../pipeline/types.js";
import { mimeOfExtension } from "../../requests/jobs.js";
import type { Where, Who } from "../../requests/request.js";
import { JobFollower } from "../follow.js";
import { SESSION_COOKIE, sameSecret, sessionValue, setCookie } from "./cookies.js";
import { ApiError, httpMessages } from "./http-errors.js";
import { eventSignature, eventStreamSink } from "./job-events.js";
import { BLURRED_FILE, IMAGE_FILE, jobJson } from "./job-json.js";
import {
  type ActionBody,
  actionBody,
  describeIssues,
  historyQuery,
  imagineBody,
  MAX_MASK_TEXT_LENGTH,
  plainOptions,
  sessionBody,
} from "./schemas.js";

const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Largest body of a job action: a repaint's mask in base64, and the rest. */
export const MAX_ACTION_BODY_BYTES = MAX_MASK_TEXT_LENGTH + 64 * 1024;
/** Progress views are coalesced to at most one per this many ms on an event stream. */
const STREAM_MIN_INTERVAL_MS = 100;
/** A comment line every so often keeps proxies and browsers from closing an idle stream. */
const STREAM_PING_MS = 15_000;

export interface ApiDependencies {
  config: Config;
  chat: ChatService;
  /** The browser id of a request (set by the identity hook). */
  browserIdOf(request: FastifyRequest): string;
  /** Open event streams, ended when the server stops. */
  streams: Set<() => void>;
  /** Where a stream's failed writes are told (default: nowhere). */
  logger?: Logger;
}

function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ApiError("invalid_input", describeIssues(result.error));
  return result.data;
}

function jobIdParam(request: FastifyRequest): string {
  const { id } = request.params as { id?: string };
  if (id === undefined || !JOB_ID.test(id)) throw new ApiError("not_found", httpMessages.noSuchJob);
  return id;
}

/** Every action but repaint is a button's (repaint carries a region no button id can hold). */
function buttonActionOf(jobId: string, body: Exclude<ActionBody, { action: "repaint" }>): ButtonAction {
  switch (body.action) {
    case "reroll":
      return { kind: "reroll", jobId };
    case "vary":
      return { kind: "vary", jobId, imageIndex: body.index ?? 0, strength: body.strength ?? "subtle" };
    case "refine":
    case "upscale":
      return { kind: body.action, jobId, imageIndex: body.index ?? 0 };
    case "delete":
      return { kind: "delete", jobId };
    case "zoom_out":
      return {
        kind: "zoom",
        jobId,
        imageIndex: body.index ?? 0,
        factor: body.factor ?? BUTTON_ZOOM_FACTORS[0],
      };
    case "pan":
      return { kind: "pan", jobId, imageIndex: body.index ?? 0, direction: body.direction };
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DATA_URL = /^data:([^,;]*)(?:;[^,;]+)*;base64,/;

/** A mask's bytes from base64 or a base64 data: URL; an ApiError for text that is neither. */
function maskBytes(text: string): Uint8Array {
  const base64 = text.replace(DATA_URL, "").replace(/\s+/g, "");
  if (base64.length === 0 || !BASE64.test(base64)) throw new ApiError("invalid_input", httpMessages.badMask);
  return new Uint8Array(Buffer.from(base64, "base64"));
}

/** A repaint body as the chat service takes it: exactly one of a mask and rectangles. */
function repaintEditOf(jobId: string, body: Extract<ActionBody, { action: "repaint" }>): RepaintEdit {
  if ((body.mask === undefined) === (body.rects === undefined)) {
    throw new ApiError("invalid_input", httpMessages.maskOrRects);
  }
  return {
    jobId,
    imageIndex: body.index ?? 0,
    region: body.mask !== undefined ? { mask: maskBytes(body.mask) } : { rects: body.rects ?? [] },
    ...(body.prompt !== undefined ? { prompt: body.prompt } : {}),
    ...(body.strength !== undefined ? { strength: body.strength } : {}),
  };
}

export function registerApiRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  const { chat, config } = deps;
  const who = (request: FastifyRequest): Who => ({ userId: `web:${deps.browserIdOf(request)}` });
  const where: Where = { platform: "web" };

  /**
   * A new job → 202; a refusal → its code's error (an `internal` one is a 5xx); information → 200
   * with its text, and the job as it now stands when the answer is about one (`jobId`).
   */
  const answer = async (reply: FastifyReply, chatReply: ChatReply, jobId?: string) => {
    if (chatReply.kind === "job") {
      const position = chatReply.view.state === "queued" ? (chatReply.view.position ?? 0) : 0;
      return reply.code(202).send({ jobId: chatReply.jobId, position, job: jobJson(chatReply.view) });
    }
    if (chatReply.kind === "refusal") throw new ApiError(chatReply.code, chatReply.text);
    // A delete: the job as it now stands (deleted, no images, no buttons).
    const view = chatReply.deleted ?? (jobId !== undefined ? await chat.view(jobId) : undefined);
    return reply.code(200).send({ message: chatReply.text, ...(view ? { job: jobJson(view) } : {}) });
  };

  app.get("/api/v1/info", async () => ({
    demoModel: config.demoModel,
    models: modelListing(config),
    loras: loraListing(config),
    help: chat.help(),
    tokenRequired: config.web.token !== undefined,
  }));

  app.post("/api/v1/session", async (request, reply) => {
    const token = config.web.token;
    const body = parse(sessionBody, request.body);
    if (token === undefined) return reply.code(204).send();
    if (!sameSecret(body.token, token)) throw new ApiError("unauthorized", httpMessages.badToken);
    // Fastify adds a Set-Cookie beside those already on the reply (the browser id's).
    reply.header("set-cookie", setCookie(SESSION_COOKIE, sessionValue(token), { sameSite: "Strict" }));
    return reply.code(204).send();
  });

  app.post("/api/v1/imagine", async (request, reply) => {
    const body = parse(imagineBody, request.body);
    const input =
      body.options === undefined
        ? { text: body.text }
        : { text: body.text, options: plainOptions(body.options) };
    return answer(reply, await chat.imagine(input, who(request), where));
  });

  app.get("/api/v1/jobs/:id", async (request) => {
    const view = await chat.view(jobIdParam(request));
    if (!view) throw new ApiError("not_found", httpMessages.noSuchJob);
    return jobJson(view);
  });

  /** Cancel: 202 while the job stops; 200 with the job when it had already ended (nothing to do). */
  app.delete("/api/v1/jobs/:id", async (request, reply) => {
    const jobId = jobIdParam(request);
    const before = await chat.view(jobId);
    if (!before) throw new ApiError("not_found", httpMessages.noSuchJob);
    const chatReply = await chat.pressAction({ kind: "cancel", jobId }, who(request), where);
    if (chatReply.kind === "refusal") throw new ApiError(chatReply.code, chatReply.text);
    const view = await chat.view(jobId);
    return reply.code(before.final ? 200 : 202).send({
      message: chatReply.kind === "info" ? chatReply.text : undefined,
      job: view ? jobJson(view) : undefined,
    });
  });

  // A repaint's mask travels in the body: room for it, beyond the other routes' limit.
  app.post("/api/v1/jobs/:id/actions", { bodyLimit: MAX_ACTION_BODY_BYTES }, async (request, reply) => {
    const jobId = jobIdParam(request);
    const body = parse(actionBody, request.body);
    const edit = body.action === "repaint" ? repaintEditOf(jobId, body) : undefined;
    if (!(await chat.view(jobId))) throw new ApiError("not_found", httpMessages.noSuchJob);
    const chatReply =
      body.action === "repaint"
        ? await chat.repaint(edit!, who(request), where)
        : await chat.pressAction(buttonActionOf(jobId, body), who(request), where);
    return answer(reply, chatReply, jobId);
  });

  app.get("/api/v1/jobs/:id/events", async (request, reply) => {
    const jobId = jobIdParam(request);
    const first = await chat.view(jobId);
    if (!first) throw new ApiError("not_found", httpMessages.noSuchJob);
    reply.hijack();
    const res = reply.raw;
    const cookies = setCookieHeaders(reply);
    res.writeHead(200, {
      ...(cookies.length > 0 ? { "set-cookie": cookies } : {}),
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-store",
      "x-accel-buffering": "no",
    });
    res.write("retry: 3000\n\n");
    const ping = setInterval(() => res.write(": ping\n\n"), STREAM_PING_MS);
    // The shared follow loop (one write at a time, newest view wins), each change one event.
    const follower = new JobFollower(
      chat,
      jobId,
      eventStreamSink((text) => res.write(text)),
      {
        logger: deps.logger ?? silentLogger,
        minIntervalMs: STREAM_MIN_INTERVAL_MS,
        signature: eventSignature,
      },
    );
    let closed = false;
    const end = (): void => {
      if (closed) return;
      closed = true;
      clearInterval(ping);
      follower.stop();
      deps.streams.delete(end);
      res.end();
    };
    deps.streams.add(end);
    res.on("close", end);
    void follower.done.then(end);
    void follower.start(first);
  });

  app.get("/api/v1/history", async (request) => {
    const { limit } = parse(historyQuery, request.query);
    const views = await chat.history(who(request).userId, limit ?? 30);
    return { jobs: views.map(jobJson) };
  });

  /**
   * A result's image as this browser may have it (output moderation: a blurred image's original
   * only for its requester and the admins, a withheld one only for the admins), or a moderated
   * image's blurred copy, for anyone.
   */
  app.get("/api/v1/images/:file", async (request, reply) => {
    const { file } = request.params as { file?: string };
    const blurredMatch = BLURRED_FILE.exec(file ?? "");
    if (blurredMatch) {
      const [, jobId, index] = blurredMatch;
      const copy = await chat.blurredImage(`${jobId}-${index}`);
      if (!copy) throw new ApiError("not_found", httpMessages.noSuchImage);
      return sendImage(reply, copy, `easel-${jobId}-${index}-blurred.jpg`, "private, max-age=3600");
    }
    const match = IMAGE_FILE.exec(file ?? "");
    if (!match) throw new ApiError("not_found", httpMessages.noSuchImage);
    const [, jobId, index, extension] = match;
    const answer = await chat.imageFor(`${jobId}-${index}`, who(request));
    if (answer.kind === "refusal") {
      throw new ApiError(answer.code, answer.code === "not_found" ? httpMessages.noSuchImage : answer.text);
    }
    const image = answer.image;
    if (image.mime !== mimeOfExtension(extension!)) {
      throw new ApiError("not_found", httpMessages.noSuchImage);
    }
    return sendImage(
      reply,
      image,
      `easel-${jobId}-${index}.${extension}`,
      "private, max-age=31536000, immutable",
    );
  });
}

/** An image's bytes as the answer, shown inline under `fileName`. */
function sendImage(reply: FastifyReply, image: EncodedImage, fileName: string, cacheControl: string): Buffer {
  reply
    .type(image.mime)
    .header("cache-control", cacheControl)
    .header("content-disposition", `inline; filename="${fileName}"`)
    .header("x-content-type-options", "nosniff");
  return Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
}

/** Set-Cookie headers already on a reply (the browser id), to add another beside them. */
function setCookieHeaders(reply: FastifyReply): string[] {
  const current = reply.getHeader("set-cookie");
  if (current === undefined) return [];
  return Array.isArray(current) ? current.map(String) : [String(current)];
}
