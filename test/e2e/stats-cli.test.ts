import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningTracker, startTracker } from '../../tracker/tracker-server.js'
import { runCli } from '../helpers/cli-process.js'
import { announceUrl } from '../helpers/tracker-fixture.js'

let tracker: RunningTracker
beforeAll(async () => {
  tracker = await startTracker({ host: '127.0.0.1', port: 0 })
  const hash = new Uint8Array(20).fill(0xee)
  const base = `http://127.0.0.1:${tracker.httpPort}`
  await fetch(base + announceUrl({ infoHash: hash, peerId: new Uint8Array(20).fill(1), left: 0 }))
  await fetch(base + announceUrl({ infoHash: hash, peerId: new Uint8Array(20).fill(2) }))
})
afterAll(() => tracker.close())

describe('punchswarm stats', () => {
  it('prints the swarm as a table, from the announce URL', async () => {
    const p = runCli(['stats', tracker.announceUrl])
    expect(await p.exited).toBe(0)
    expect(p.stdout()).toMatch(/swarms\s+peers\s+seeders\s+leechers/)
    expect(p.stdout()).toContain('ee'.repeat(20))
  })

  it('prints raw JSON with --json', async () => {
    const p = runCli(['stats', `127.0.0.1:${tracker.httpPort}`, '--json'])
    expect(await p.exited).toBe(0)
    expect(JSON.parse(p.stdout()).totals).toMatchObject({ peers: 2, seeders: 1 })
  })

  it('fails with one line when the tracker is unreachable', async () => {
    const p = runCli(['stats', 'http://127.0.0.1:9/', '--timeout', '2000'])
    expect(await p.exited).toBe(1)
    expect(p.stderr().trim().split('\n')).toHaveLength(1)
    expect(p.stderr()).toMatch(/^punchswarm: cannot reach http:\/\/127\.0\.0\.1:9: .*\(TRACKER_UNREACHABLE\)/)
  })
})
