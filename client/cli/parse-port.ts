import { UsageError } from '../../protocol/errors.js'

/** Parses a port flag: 0..65535, 0 meaning "pick a free one". */
export function parsePort(value: string, flag = 'port'): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    throw new UsageError('USAGE_BAD_ARGUMENT', `--${flag} must be a number from 0 to 65535, got '${value}'`)
  }
  return Number(value)
}

/** Parses a positive whole number flag. */
export function parsePositiveInt(value: string, flag: string): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) {
    throw new UsageError('USAGE_BAD_ARGUMENT', `--${flag} must be a positive whole number, got '${value}'`)
  }
  return Number(value)
}
