import { UsageError } from '../../protocol/errors.js'

/**
 * The /stats.json URL for what a user typed: the tracker's base URL, its announce URL, its stats page
 * or the JSON itself.
 */
export function statsJsonUrl(input: string): URL {
  let url: URL
  try {
    url = new URL(input.includes('://') ? input : `http://${input}`)
  } catch {
    throw new UsageError('USAGE_BAD_ARGUMENT', `not a URL: ${input}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError('USAGE_BAD_ARGUMENT', `stats are served over HTTP, not ${url.protocol}`)
  }
  url.pathname = `${url.pathname.replace(/\/(announce|scrape|stats|stats\.json|metrics)?\/?$/, '')}/stats.json`
  url.search = ''
  return url
}
