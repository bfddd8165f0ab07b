declare module 'bencode' {
  /** Encodes a value: strings as UTF-8, Uint8Array as raw bytes, numbers as integers, objects as sorted dicts. */
  function encode(value: unknown): Uint8Array
  /** Decodes bencoded bytes; byte strings come back as Uint8Array unless `encoding` is given. */
  function decode(data: Uint8Array, start?: number, end?: number, encoding?: string): unknown
  function decode(data: Uint8Array, encoding: string): unknown
  function byteLength(value: unknown): number
  const bencode: {
    encode: typeof encode
    decode: typeof decode
    byteLength: typeof byteLength
    encodingLength: typeof byteLength
  }
  export default bencode
}
