import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  DHT_NODE_CACHE_FILE,
  DHT_NODE_CACHE_MAX,
  readDhtNodeCache,
  writeDhtNodeCache,
} from '../../../../client/dht/dht-node-cache.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'punchswarm-dht-cache-'))
  dirs.push(d)
  return d
}

describe('the DHT node cache beside the data', () => {
  it('round-trips contacts, at most 200, and writes nothing when there are none', async () => {
    const d = dir()
    await writeDhtNodeCache(d, [])
    expect(() => readFileSync(join(d, DHT_NODE_CACHE_FILE))).toThrow()
    const many = Array.from({ length: 300 }, (_, i) => ({
      host: `198.18.${i >> 8}.${i & 255}`,
      port: 6881 + i,
    }))
    await writeDhtNodeCache(d, many)
    const back = await readDhtNodeCache(d)
    expect(back).toHaveLength(DHT_NODE_CACHE_MAX)
    expect(back[0]).toEqual({ host: '198.18.0.0', port: 6881 })
  })

  it.each([
    ['no file', undefined],
    ['not JSON', '{nodes: ['],
    ['JSON null', 'null'],
    ['nodes not a list', '{"nodes": 5}'],
  ])('reads %s as no contacts', async (_, text) => {
    const d = dir()
    if (text !== undefined) writeFileSync(join(d, DHT_NODE_CACHE_FILE), text)
    expect(await readDhtNodeCache(d)).toEqual([])
  })

  it('keeps only IPv4 contacts with a port in range', async () => {
    const d = dir()
    const nodes = [
      { host: '203.0.113.5', port: 6881 },
      { host: 'router.example', port: 6881 },
      { host: '::1', port: 6881 },
      { host: '203.0.113.6', port: 0 },
      { host: '203.0.113.7', port: 70000 },
      { host: '203.0.113.8', port: '6881' },
      null,
      'text',
    ]
    writeFileSync(join(d, DHT_NODE_CACHE_FILE), JSON.stringify({ nodes }))
    expect(await readDhtNodeCache(d)).toEqual([{ host: '203.0.113.5', port: 6881 }])
  })
})
