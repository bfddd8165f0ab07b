/**
 * 16-bit sequence and ack numbers (BEP 29) wrap around; every comparison goes through these helpers.
 */

export const SEQ_MASK = 0xffff

/** `a - b` as a signed distance in [-32768, 32767]: positive when `a` is after `b`. */
export function seqDiff(a: number, b: number): number {
  return ((((a - b) & SEQ_MASK) + 0x8000) & SEQ_MASK) - 0x8000
}

export function seqAdd(a: number, n: number): number {
  return (a + n) & SEQ_MASK
}

/** `a - b` of two 32-bit microsecond timestamps, as a signed 32-bit value. */
export function u32Diff(a: number, b: number): number {
  return (a - b) | 0
}
