/** Whether `text` can be a BEP 19 web seed: an http or https URL (other schemes are ignored). */
export function isWebSeedUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text)
    return protocol === 'http:' || protocol === 'https:'
  } catch {
    return false
  }
}
