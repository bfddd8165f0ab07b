import { TrackerError } from '../../protocol/errors.js'

/** The raw query string of a request URL (without `?`), refusing oversized URLs. */
export function rawQuery(url: string | undefined, maxBytes: number): string {
  if (!url) return ''
  if (url.length > maxBytes)
    throw new TrackerError('TRACKER_BAD_REQUEST', `request URL longer than ${maxBytes} bytes`)
  const q = url.indexOf('?')
  return q < 0 ? '' : url.slice(q + 1)
}
