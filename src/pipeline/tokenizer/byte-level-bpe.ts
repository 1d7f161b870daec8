/**
 * Byte-level BPE as CLIP uses it: a pre-token's UTF-8 bytes, each spelled as one character of
 * GPT-2's byte alphabet, `</w>` appended to the last one, then the lowest-ranked adjacent pair is
 * merged (every occurrence, left to right) until no pair has a rank.
 */

/**
 * GPT-2's byte alphabet: printable Latin-1 bytes stand for themselves, the others (controls,
 * space, U+00AD) take the characters from U+0100 upwards in byte order.
 */
function buildByteAlphabet(): string[] {
  const alphabet: string[] = new Array(256);
  let next = 256;
  for (let byte = 0; byte < 256; byte++) {
    const printable = (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || byte >= 0xae;
    alphabet[byte] = String.fromCharCode(printable ? byte : next++);
  }
  return alphabet;
}

const BYTE_ALPHABET = buildByteAlphabet();
const END_OF_WORD = "</w>";
const utf8 = new TextEncoder();

/** A pre-token as the BPE's initial symbols; lone surrogates become U+FFFD's bytes. */
export function byteSymbols(preToken: string): string[] {
  const symbols = Array.from(utf8.encode(preToken), (byte) => BYTE_ALPHABET[byte]!);
  if (symbols.length > 0) symbols[symbols.length - 1] += END_OF_WORD;
  return symbols;
}

/** Above this many distinct words the cache starts over, so a long-running bot's memory stays bounded. */
const CACHE_LIMIT = 100_000;

export class BytePairEncoder {
  private readonly cache = new Map<string, readonly number[]>();

  /**
   * @param vocab symbol (byte-alphabet spelling, `</w>` at word ends) to id
   * @param ranks `"left right"` to merge priority, lower merges first
   */
  constructor(
    private readonly vocab: ReadonlyMap<string, number>,
    private readonly ranks: ReadonlyMap<string, number>,
  ) {}

  /** The ids of one pre-token. */
  encodeWord(preToken: string): readonly number[] {
    const cached = this.cache.get(preToken);
    if (cached) return cached;
    const ids = this.merge(byteSymbols(preToken)).map((symbol) => {
      const id = this.vocab.get(symbol);
      // Cannot happen with a consistent vocab/merges pair: every byte and every merge result has an id.
      if (id === undefined)
        throw new Error(`BPE symbol ${JSON.stringify(symbol)} is missing from the vocabulary`);
      return id;
    });
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(preToken, ids);
    return ids;
  }

  private merge(symbols: string[]): string[] {
    while (symbols.length > 1) {
      let bestRank = Number.POSITIVE_INFINITY;
      let bestIndex = -1;
      for (let i = 0; i < symbols.length - 1; i++) {
        const rank = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          bestIndex = i;
        }
      }
      if (bestIndex < 0) break;
      const left = symbols[bestIndex]!;
      const right = symbols[bestIndex + 1]!;
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (symbols[i] === left && symbols[i + 1] === right) {
          merged.push(left + right);
          i++;
        } else {
          merged.push(symbols[i]!);
        }
      }
      symbols = merged;
    }
    return symbols;
  }
}
