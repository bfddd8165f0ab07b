import fc from 'fast-check'

/**
 * Arbitraries that start from valid encodings and damage them, so that inputs get past a decoder's
 * first checks and reach its deep paths: bit flips, truncation, extension, byte and length-field
 * overwrites, range deletion and duplication, and (for text formats) digit runs swapped for huge
 * numbers.
 */

/** Values a length or count field is most likely to mishandle. */
const EDGE_U32 = [
  0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff,
]
/** Bytes with a meaning in bencode, queries and the binary formats. */
const EDGE_BYTES = [
  0x00, 0x01, 0x13, 0x14, 0x25, 0x26, 0x30, 0x31, 0x39, 0x3a, 0x3d, 0x2d, 0x64, 0x65, 0x69, 0x6c, 0x7f, 0x80,
  0xe5, 0xff,
]
/** Decimal numbers for text length fields (bencode string lengths, integers, ports). */
const EDGE_DIGITS = [
  '0',
  '00',
  '-0',
  '-1',
  '4294967296',
  '4294967295',
  '9007199254740993',
  '99999999999999999999',
  '1e3',
]

export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'extend'; bytes: Uint8Array }
  | { op: 'u16'; at: number; value: number }
  | { op: 'u32'; at: number; value: number; relative: boolean }
  | { op: 'delete'; at: number; count: number }
  | { op: 'duplicate'; at: number; count: number; times: number }
  | { op: 'digits'; nth: number; text: string }

/** Positions are fractions of the input's length, so one mutation fits inputs of any size. */
const pos = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  {
    arbitrary: fc.record({ op: fc.constant('flip' as const), at: pos, bit: fc.integer({ min: 0, max: 7 }) }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('set' as const),
      at: pos,
      value: fc.oneof(fc.constantFrom(...EDGE_BYTES), fc.integer({ min: 0, max: 255 })),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ op: fc.constant('truncate' as const), at: pos }), weight: 2 },
  {
    arbitrary: fc.record({
      op: fc.constant('extend' as const),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('u16' as const),
      at: pos,
      value: fc.oneof(
        fc.constantFrom(0, 1, 0xff, 0x7fff, 0x8000, 0xffff),
        fc.integer({ min: 0, max: 0xffff }),
      ),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('u32' as const),
      at: pos,
      value: fc.constantFrom(...EDGE_U32),
      relative: fc.boolean(),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('delete' as const),
      at: pos,
      count: fc.integer({ min: 1, max: 32 }),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('duplicate' as const),
      at: pos,
      count: fc.integer({ min: 1, max: 64 }),
      times: fc.integer({ min: 1, max: 8 }),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('digits' as const),
      nth: fc.nat({ max: 64 }),
      text: fc.constantFrom(...EDGE_DIGITS),
    }),
    weight: 2,
  },
)

/** Applies one mutation; never grows the input past `maxBytes`. */
export function applyMutation(input: Uint8Array, m: Mutation, maxBytes: number): Uint8Array {
  const b = Uint8Array.from(input)
  const at = (f: number) => Math.floor(f * b.length)
  switch (m.op) {
    case 'flip':
      if (b.length) b[at(m.at)]! ^= 1 << m.bit
      return b
    case 'set':
      if (b.length) b[at(m.at)] = m.value
      return b
    case 'truncate':
      return b.subarray(0, at(m.at))
    case 'extend':
      return concat(b, m.bytes.subarray(0, Math.max(0, maxBytes - b.length)))
    case 'u16': {
      const o = at(m.at)
      if (o + 2 <= b.length) {
        b[o] = m.value >>> 8
        b[o + 1] = m.value & 0xff
      }
      return b
    }
    case 'u32': {
      const o = at(m.at)
      // Relative: a length that points just past the end, the classic off-by-one.
      const v = m.relative ? (b.length - o + (m.value & 3)) >>> 0 : m.value
      if (o + 4 <= b.length) new DataView(b.buffer, b.byteOffset).setUint32(o, v)
      return b
    }
    case 'delete': {
      const o = at(m.at)
      return concat(b.subarray(0, o), b.subarray(o + m.count))
    }
    case 'duplicate': {
      const o = at(m.at)
      const piece = b.subarray(o, o + m.count)
      const parts = [b.subarray(0, o + piece.length)]
      for (let i = 0; i < m.times; i++) parts.push(piece)
      parts.push(b.subarray(o + piece.length))
      const out = Buffer.concat(parts)
      return new Uint8Array(out.buffer, out.byteOffset, Math.min(out.length, maxBytes))
    }
    case 'digits': {
      // The nth run of ASCII digits (a bencode length or integer, a port) becomes an extreme number.
      let seen = 0
      for (let i = 0; i < b.length; i++) {
        if (!isDigit(b[i]!)) continue
        let j = i
        while (j < b.length && isDigit(b[j]!)) j++
        if (seen++ === m.nth % Math.max(1, countDigitRuns(b))) {
          const out = concat(concat(b.subarray(0, i), Buffer.from(m.text, 'latin1')), b.subarray(j))
          return out.subarray(0, maxBytes)
        }
        i = j
      }
      return b
    }
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39
}

function countDigitRuns(b: Uint8Array): number {
  let n = 0
  for (let i = 0; i < b.length; i++) if (isDigit(b[i]!) && (i === 0 || !isDigit(b[i - 1]!))) n++
  return n
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

/**
 * Valid encodings, a few of them damaged: one in eight is left intact (so the success path is
 * fuzzed too), the rest get one to four mutations. Inputs stay within `maxBytes`.
 */
export function mutated(valid: fc.Arbitrary<Uint8Array>, maxBytes: number): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      valid,
      fc.oneof(
        { arbitrary: fc.constant([] as Mutation[]), weight: 1 },
        { arbitrary: fc.array(mutationArb, { minLength: 1, maxLength: 4 }), weight: 7 },
      ),
    )
    .map(([bytes, ms]) => ms.reduce((b, m) => applyMutation(b, m, maxBytes), bytes.subarray(0, maxBytes)))
}

/** Mostly mutated valid encodings, some plain random bytes (which test the first checks). */
export function fuzzBytes(valid: fc.Arbitrary<Uint8Array>, maxBytes: number): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { arbitrary: mutated(valid, maxBytes), weight: 9 },
    { arbitrary: fc.uint8Array({ maxLength: Math.min(maxBytes, 256) }), weight: 1 },
  )
}

/** The same for text inputs (query strings, magnet links), mutated as latin1 bytes. */
export function fuzzText(valid: fc.Arbitrary<string>, maxBytes: number): fc.Arbitrary<string> {
  return fc.oneof(
    {
      arbitrary: mutated(
        valid.map((s) => new Uint8Array(Buffer.from(s, 'latin1'))),
        maxBytes,
      ).map((b) => Buffer.from(b).toString('latin1')),
      weight: 8,
    },
    { arbitrary: fc.string({ maxLength: 200, unit: 'binary' }), weight: 1 },
    { arbitrary: fc.string({ maxLength: 200 }), weight: 1 },
  )
}
