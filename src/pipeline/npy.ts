/** NumPy .npy (format 1.0) writer for float32 arrays, so latents and noise can be compared with Python tools. */
export function encodeNpyFloat32(data: Float32Array, shape: readonly number[]): Uint8Array {
  const expected = shape.reduce((a, b) => a * b, 1);
  if (expected !== data.length)
    throw new RangeError(`shape ${shape.join("x")} does not hold ${data.length} values`);
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(", ");
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64, ending in \n.
  const unpadded = 10 + header.length + 1;
  header += `${" ".repeat((64 - (unpadded % 64)) % 64)}\n`;
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, ...Buffer.from("NUMPY"), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header, "latin1"), 10);
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  // Typed arrays are little-endian on every platform Node supports.
  out.set(body, 10 + header.length);
  return out;
}
