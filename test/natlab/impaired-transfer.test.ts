import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { isRoot, prerequisite } from '../helpers/require-tool.js'
import { runGet, seedRandomFile, startLabTracker } from './lab/lab-process.js'
import { createLab, type Lab } from './lab/netns-lab.js'

const gate = prerequisite('root (network namespaces and iptables)', isRoot())

let lab: Lab | undefined
afterAll(() => lab?.destroy())

describe.skipIf(gate.skip)('a download through impaired links (network namespaces)', () => {
  it('seed behind an 8 Mbit/s uplink, get behind a router losing 5 % of packets: byte-exact', async () => {
    lab = createLab([
      { name: 'slow', kind: 'cone', uplinkMbit: 8 },
      { name: 'lossy', kind: 'cone', loss: 0.05 },
    ])
    const announce = await startLabTracker(lab)
    const dir = mkdtempSync(join(tmpdir(), 'punchswarm-impaired-'))
    try {
      const { content, magnet } = await seedRandomFile(lab, 'slow', dir, announce, 2 * 1024 * 1024 + 11)
      const get = await runGet(lab, 'lossy', magnet, join(dir, 'out'), 90)
      const tail = JSON.stringify(get.out.seen.filter((l) => l.event !== 'progress')).slice(-1500)
      expect(get.exit, tail).toBe(0)
      expect(readFileSync(join(dir, 'out', 'payload.bin')).equals(content)).toBe(true)
      // The data really crossed both impairments: the shaper held packets back, the router dropped some.
      const slow = lab.sites.get('slow')!
      const qdisc = lab.exec(slow.routerNs!, ['tc', '-s', 'qdisc', 'show'])
      const overlimits = Number(/tbf[\s\S]*?overlimits (\d+)/.exec(qdisc)?.[1] ?? 0)
      expect(overlimits, qdisc).toBeGreaterThan(0)
      const lossy = lab.sites.get('lossy')!
      const rules = lab.exec(lossy.routerNs!, ['iptables', '-L', 'FORWARD', '-v', '-x', '-n'])
      const dropped = Number(/^\s*(\d+)\s+\d+\s+DROP.*statistic/m.exec(rules)?.[1] ?? 0)
      expect(dropped, rules).toBeGreaterThan(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 150_000)
})
