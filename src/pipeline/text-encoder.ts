/**
 * Prompt embeddings for SDXL: CLIP ViT-L's and OpenCLIP bigG's penultimate hidden states
 * concatenated along the feature axis, and bigG's pooled, projected `text_embeds`.
 * Long prompts arrive as several 77-token chunks, concatenated along the sequence axis; emphasis
 * weights scale token embeddings and then restore the chunk's mean, as the popular SD UIs do.
 */
import { ModelFolderError } from "../errors.js";
import type { ModelFolder } from "./model-folder.js";
import type { ModelSession } from "./onnx/session.js";
import { floatOutput, integerInput } from "./onnx/tensors.js";
import { ClipTokenizer, type TokenChunk, tokenizeWeighted } from "./tokenizer/index.js";

export const TOKENS_PER_CHUNK = 77;

/** One CLIP encoder with its tokenizer; yields the penultimate hidden state (and the pooled output). */
export class ClipTextEncoder {
  readonly width: number;
  private readonly penultimate: string;

  constructor(
    private readonly session: ModelSession,
    readonly tokenizer: ClipTokenizer,
    private readonly pooledName: string | undefined,
  ) {
    const layers = session.outputNames.filter((name) => /^hidden_states\.\d+$/.test(name)).length;
    if (layers < 2)
      throw new ModelFolderError(session.path, "has no hidden_states.* outputs (expected one per layer)");
    this.penultimate = `hidden_states.${layers - 2}`;
    const width = session.output(this.penultimate).shape.at(-1);
    if (typeof width !== "number")
      throw new ModelFolderError(session.path, `${this.penultimate} has no fixed width`);
    this.width = width;
    if (pooledName) session.output(pooledName);
  }

  /** The device its session runs on. */
  get device(): string {
    return this.session.device;
  }

  /** Encodes a batch of chunks in one run: hidden [n, 77, width], pooled [n, pooledWidth]. */
  async encode(
    chunks: readonly TokenChunk[],
  ): Promise<{ hidden: Float32Array; pooled: Float32Array | undefined }> {
    const ids = new Int32Array(chunks.length * TOKENS_PER_CHUNK);
    for (const [i, chunk] of chunks.entries()) ids.set(chunk.ids, i * TOKENS_PER_CHUNK);
    const feeds = {
      input_ids: integerInput(this.session.input("input_ids"), ids, [chunks.length, TOKENS_PER_CHUNK]),
    };
    const fetches = this.pooledName ? [this.penultimate, this.pooledName] : [this.penultimate];
    const out = await this.session.run(feeds, fetches);
    return {
      hidden: floatOutput(out[this.penultimate]!, this.penultimate),
      pooled: this.pooledName ? floatOutput(out[this.pooledName]!, this.pooledName) : undefined,
    };
  }
}

/**
 * The folder's text encoders in SDXL order: CLIP ViT-L (base only), then OpenCLIP bigG, whose
 * pooled `text_embeds` the UNet takes. `loadSession` loads (and owns) each session.
 */
export async function loadTextEncoders(
  folder: ModelFolder,
  loadSession: (path: string) => Promise<ModelSession>,
  tokenizerOptions: { exclamationAsPad?: boolean } = {},
): Promise<ClipTextEncoder[]> {
  const parts: [string | undefined, string | undefined, string | undefined][] = [
    [folder.textEncoder, folder.tokenizerDir, undefined],
    [folder.textEncoder2, folder.tokenizer2Dir, "text_embeds"],
  ];
  const encoders: ClipTextEncoder[] = [];
  for (const [model, tokenizerDir, pooled] of parts) {
    if (!model || !tokenizerDir) continue;
    const session = await loadSession(model);
    encoders.push(
      new ClipTextEncoder(session, await ClipTokenizer.fromFolder(tokenizerDir, tokenizerOptions), pooled),
    );
  }
  return encoders;
}

export interface PromptEmbeddings {
  /** [1, 77 * chunks, width] */
  hidden: Float32Array;
  /** [1, pooled width] */
  pooled: Float32Array;
  chunks: number;
}

export interface EncodedPrompts {
  positive: PromptEmbeddings;
  /** Undefined when guidance is off. */
  negative: PromptEmbeddings | undefined;
  width: number;
}

/**
 * Encodes a prompt (and, with guidance, its negative) with one or two encoders. The last encoder
 * is the pooled one. `zeroMissingNegative`: an absent negative prompt gives zero embeddings
 * (the base model's force_zeros_for_empty_prompt); otherwise it is encoded as "".
 */
export async function encodePrompts(
  encoders: readonly ClipTextEncoder[],
  prompt: string,
  negativePrompt: string | undefined,
  options: { guidance: boolean; zeroMissingNegative: boolean },
): Promise<EncodedPrompts> {
  const width = encoders.reduce((sum, encoder) => sum + encoder.width, 0);
  const zeroNegative = options.guidance && negativePrompt === undefined && options.zeroMissingNegative;
  const encodeNegative = options.guidance && !zeroNegative;

  // Chunk counts must agree between prompt and negative, and between the two tokenizers.
  // A text with fewer chunks than the longest is tokenized again, padded to that count.
  const tokenized = (text: string, minChunks = 1) =>
    encoders.map((e) => tokenizeWeighted(e.tokenizer, text, minChunks));
  const padded = (text: string, current: ReturnType<typeof tokenized>, chunks: number) =>
    current.every((t) => t.chunks.length === chunks) ? current : tokenized(text, chunks);
  let positive = tokenized(prompt);
  let negative = encodeNegative ? tokenized(negativePrompt ?? "") : undefined;
  const chunks = Math.max(...[...positive, ...(negative ?? [])].map((t) => t.chunks.length));
  positive = padded(prompt, positive, chunks);
  if (negative) negative = padded(negativePrompt ?? "", negative, chunks);

  const hidden = (rows: number) => new Float32Array(rows * chunks * TOKENS_PER_CHUNK * width);
  const positiveHidden = hidden(1);
  const negativeHidden = negative ? hidden(1) : undefined;
  let positivePooled = new Float32Array(0);
  let negativePooled: Float32Array | undefined;

  let featureOffset = 0;
  for (const [e, encoder] of encoders.entries()) {
    const batch = [...positive[e]!.chunks, ...(negative ? negative[e]!.chunks : [])];
    const { hidden: encoded, pooled } = await encoder.encode(batch);
    interleaveFeatures(
      encoded.subarray(0, chunks * TOKENS_PER_CHUNK * encoder.width),
      positiveHidden,
      encoder.width,
      featureOffset,
      width,
    );
    if (negativeHidden) {
      interleaveFeatures(
        encoded.subarray(chunks * TOKENS_PER_CHUNK * encoder.width),
        negativeHidden,
        encoder.width,
        featureOffset,
        width,
      );
    }
    if (pooled) {
      // The pooled vector of a long prompt is its first chunk's.
      const pooledWidth = pooled.length / batch.length;
      positivePooled = pooled.slice(0, pooledWidth);
      if (negative) negativePooled = pooled.slice(chunks * pooledWidth, (chunks + 1) * pooledWidth);
    }
    featureOffset += encoder.width;
  }

  applyEmphasis(positiveHidden, positive, encoders, width);
  if (negativeHidden && negative) applyEmphasis(negativeHidden, negative, encoders, width);

  const negativeEmbeddings: PromptEmbeddings | undefined = zeroNegative
    ? { hidden: hidden(1), pooled: new Float32Array(positivePooled.length), chunks }
    : negativeHidden && negativePooled
      ? { hidden: negativeHidden, pooled: negativePooled, chunks }
      : undefined;
  return {
    positive: { hidden: positiveHidden, pooled: positivePooled, chunks },
    negative: negativeEmbeddings,
    width,
  };
}

/** Copies [tokens, encoderWidth] rows into columns [offset, offset + encoderWidth) of [tokens, totalWidth]. */
function interleaveFeatures(
  source: Float32Array,
  target: Float32Array,
  encoderWidth: number,
  offset: number,
  totalWidth: number,
): void {
  const tokens = source.length / encoderWidth;
  for (let t = 0; t < tokens; t++) {
    target.set(source.subarray(t * encoderWidth, (t + 1) * encoderWidth), t * totalWidth + offset);
  }
}

/**
 * Emphasis: scale each token's features by its weight (each encoder's slice by its own
 * tokenizer's weights, which can differ in position), then rescale the chunk to its original mean.
 */
function applyEmphasis(
  hidden: Float32Array,
  tokenizations: readonly { chunks: TokenChunk[]; weighted: boolean }[],
  encoders: readonly ClipTextEncoder[],
  width: number,
): void {
  if (!tokenizations.some((t) => t.weighted)) return;
  const chunkSize = TOKENS_PER_CHUNK * width;
  const chunks = tokenizations[0]!.chunks.length;
  for (let c = 0; c < chunks; c++) {
    const z = hidden.subarray(c * chunkSize, (c + 1) * chunkSize);
    let before = 0;
    let after = 0;
    let offset = 0;
    encoders.forEach((encoder, e) => {
      const weights = tokenizations[e]!.chunks[c]!.weights;
      for (let t = 0; t < TOKENS_PER_CHUNK; t++) {
        const weight = weights[t]!;
        const start = t * width + offset;
        for (let j = start; j < start + encoder.width; j++) {
          before += z[j]!;
          z[j] = z[j]! * weight;
          after += z[j]!;
        }
      }
      offset += encoder.width;
    });
    if (after !== 0) {
      const restore = before / after;
      for (let j = 0; j < z.length; j++) z[j] = z[j]! * restore;
    }
  }
}
