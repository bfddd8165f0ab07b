import type fc from 'fast-check'
import { PunchswarmError } from '../../protocol/errors.js'

/**
 * One decoder under fuzz: what it reads, how inputs are made, which errors it may throw.
 * The property every target is held to: each input either decodes or throws one of the allowed
 * typed errors (protocol/errors.ts); nothing else escapes, the decode ends quickly, and what it
 * returns is bounded by the input's size (no length field makes it allocate more).
 */
export interface FuzzTarget<T = unknown> {
  name: string
  /** Where the bytes come from and which function reads them. */
  reads: string
  arbitrary: fc.Arbitrary<T>
  /** Decodes one input; the result is only measured, never trusted. */
  decode(input: T): unknown
  /** The error classes this decoder may throw for bad input. */
  allowed: readonly (abstract new (
    ...args: never[]
  ) => PunchswarmError)[]
  /** Extra checks on a successful decode (e.g. a hash that must match); throws when violated. */
  check?(input: T, output: unknown): void
  /** Size of one input in bytes, for the output bound. */
  size(input: T): number
  /** Releases what the target holds (servers, apps) once a run is over. */
  close?(): Promise<void>
}

/**
 * A decode slower than this fails the property: it catches hangs and super-linear work, not
 * slowness (a shared 2-core machine at load 18 stretched 10 ms decodes to 3 s). The bench reports
 * the measured maximum.
 */
export const MAX_DECODE_MS = 5000
/** Decoded output may be this many times the input's size, plus OUTPUT_SLACK_BYTES. */
export const OUTPUT_FACTOR = 8
export const OUTPUT_SLACK_BYTES = 64 * 1024

/** How one case ended, for reports. */
export interface CaseResult {
  outcome: 'decoded' | 'rejected'
  ms: number
}

/** A case that broke the property. */
export class FuzzViolation extends Error {}

/** Runs one input through a target and enforces the property; throws FuzzViolation if broken. */
export async function runCase<T>(target: FuzzTarget<T>, input: T): Promise<CaseResult> {
  const start = performance.now()
  let output: unknown
  try {
    output = await target.decode(input)
  } catch (err) {
    const ms = performance.now() - start
    if (!target.allowed.some((E) => err instanceof E)) {
      throw new FuzzViolation(`${target.name}: threw ${describe(err)}, not ${allowedNames(target)}`, {
        cause: err,
      })
    }
    checkTime(target, ms)
    return { outcome: 'rejected', ms }
  }
  const ms = performance.now() - start
  checkTime(target, ms)
  const limit = OUTPUT_FACTOR * target.size(input) + OUTPUT_SLACK_BYTES
  const bytes = approximateBytes(output, limit)
  if (bytes > limit) throw new FuzzViolation(`${target.name}: decoded to ~${bytes} bytes (limit ${limit})`)
  target.check?.(input, output)
  return { outcome: 'decoded', ms }
}

function checkTime(target: Pick<FuzzTarget, 'name'>, ms: number): void {
  if (ms > MAX_DECODE_MS) throw new FuzzViolation(`${target.name}: decode took ${ms.toFixed(0)} ms`)
}

function allowedNames(target: Pick<FuzzTarget, 'allowed'>): string {
  return target.allowed.map((E) => E.name).join(' or ')
}

function describe(err: unknown): string {
  if (err instanceof PunchswarmError) return `${err.name} ${err.code}: ${err.message}`
  if (err instanceof Error) return `${err.name}: ${err.message}`
  return String(err)
}

/** Bytes a decoded value holds, walked up to `limit` (typed arrays, strings, containers). */
export function approximateBytes(value: unknown, limit: number): number {
  let total = 0
  const seen = new Set<object>()
  const stack: unknown[] = [value]
  while (stack.length > 0 && total <= limit) {
    const v = stack.pop()
    if (typeof v === 'string') total += v.length
    else if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') total += 8
    else if (ArrayBuffer.isView(v)) total += v.byteLength
    else if (v !== null && typeof v === 'object' && !seen.has(v)) {
      seen.add(v)
      const values = v instanceof Map ? [...v.values()] : Object.values(v)
      total += 8 * values.length
      stack.push(...values)
    }
  }
  return total
}
