/**
 * Reads a diffusers CLIP tokenizer folder (`tokenizer/` or `tokenizer_2/`): vocab.json, merges.txt,
 * and the pad token from special_tokens_map.json or tokenizer_config.json. Every problem is a
 * ModelFolderError that names the file.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ModelFolderError } from "../../errors.js";

export const START_OF_TEXT = "<|startoftext|>";
export const END_OF_TEXT = "<|endoftext|>";

export interface ClipVocabulary {
  /** Symbol (byte-alphabet spelling, `</w>` at word ends) to id. */
  vocab: Map<string, number>;
  /** `"left right"` pairs, highest priority first. */
  merges: string[];
  /** The token that fills a sequence after its end-of-text. */
  padToken: string;
}

async function readText(path: string, what: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ModelFolderError(path, `cannot be read (${what})`, { cause: error });
  }
}

async function readJson(path: string, what: string): Promise<unknown> {
  const text = await readText(path, what);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ModelFolderError(path, `is not valid JSON (${what})`, { cause: error });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

async function readVocab(path: string): Promise<Map<string, number>> {
  const json = await readJson(path, "the CLIP vocabulary");
  if (json === undefined) throw new ModelFolderError(path, "is missing (the CLIP vocabulary)");
  if (!isRecord(json))
    throw new ModelFolderError(path, "is not a CLIP vocabulary (expected an object of token to id)");
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(json)) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      throw new ModelFolderError(
        path,
        `maps ${JSON.stringify(token)} to ${JSON.stringify(id)}, not a token id`,
      );
    }
    vocab.set(token, id);
  }
  for (const special of [START_OF_TEXT, END_OF_TEXT]) {
    if (!vocab.has(special))
      throw new ModelFolderError(path, `has no ${special} token; is this a CLIP vocabulary?`);
  }
  return vocab;
}

async function readMerges(path: string, vocab: ReadonlyMap<string, number>): Promise<string[]> {
  const text = await readText(path, "the CLIP BPE merges");
  if (text === undefined) throw new ModelFolderError(path, "is missing (the CLIP BPE merges)");
  const lines = text.split("\n").map((line) => line.replace(/\r$/, ""));
  const start = lines[0]?.startsWith("#version") ? 1 : 0;
  const merges: string[] = [];
  for (let n = start; n < lines.length; n++) {
    const line = lines[n]!;
    if (line === "") continue;
    const parts = line.split(" ");
    if (parts.length !== 2 || parts[0] === "" || parts[1] === "") {
      throw new ModelFolderError(
        path,
        `line ${n + 1} is not a merge ("left right"): ${JSON.stringify(line)}`,
      );
    }
    if (!vocab.has(parts[0]! + parts[1]!)) {
      throw new ModelFolderError(
        path,
        `line ${n + 1} merges into a symbol vocab.json lacks; the two files do not belong together`,
      );
    }
    merges.push(line);
  }
  if (merges.length === 0) throw new ModelFolderError(path, "has no merges");
  return merges;
}

/** A special token as transformers writes it: a string or an AddedToken object with `content`. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (isRecord(value) && typeof value.content === "string") return value.content;
  return undefined;
}

async function readPadToken(dir: string, vocab: ReadonlyMap<string, number>): Promise<string> {
  // transformers lets special_tokens_map.json override tokenizer_config.json; CLIP's default pad is <|endoftext|>.
  for (const file of ["special_tokens_map.json", "tokenizer_config.json"]) {
    const path = join(dir, file);
    const json = await readJson(path, "the tokenizer's special tokens");
    if (json === undefined) continue;
    if (!isRecord(json)) throw new ModelFolderError(path, "is not a JSON object");
    const pad = tokenContent(json.pad_token);
    if (pad === undefined) continue;
    if (!vocab.has(pad))
      throw new ModelFolderError(path, `names pad token ${JSON.stringify(pad)}, which vocab.json lacks`);
    return pad;
  }
  return END_OF_TEXT;
}

export async function readTokenizerFolder(dir: string): Promise<ClipVocabulary> {
  const vocab = await readVocab(join(dir, "vocab.json"));
  const merges = await readMerges(join(dir, "merges.txt"), vocab);
  const padToken = await readPadToken(dir, vocab);
  return { vocab, merges, padToken };
}
