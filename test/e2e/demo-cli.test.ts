import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli-process.js'
import { isRoot, prerequisite } from '../helpers/require-tool.js'

const labGate = prerequisite('root (the demo runs in the NAT lab only as root)', isRoot())

describe('punchswarm demo', () => {
  it('on loopback: runs the tracker, punches between two peers, moves a file over uTP, shows the stats', async () => {
    const p = runCli(['demo', '--loopback'])
    const code = await p.exited
    expect(code, p.stderr()).toBe(0)
    expect(p.stdout()).toMatch(/both punched/)
    expect(p.stdout()).toMatch(/downloaded it over utp in [\d.]+ s; sha256 matches/)
    expect(p.stdout()).toMatch(/punch attempts\s+successes\s+failures\n1\s+1\s+0/)
  }, 30_000)

  it.skipIf(labGate.skip)(
    'in the NAT lab: a seeder and a leecher behind two Linux NAT routers, no port forwarding, then the stats',
    async () => {
      const p = runCli(['demo'])
      const code = await p.exited
      expect(code, p.stderr()).toBe(0)
      expect(p.stdout()).toMatch(/NAT lab: tracker at 203\.0\.113\.2/)
      expect(p.stdout()).toMatch(
        /path 198\.18\.1\.2:\d+; downloaded 4 MiB over utp in [\d.]+ s; sha256 matches/,
      )
      expect(p.stdout()).toMatch(/punch attempts\s+successes\s+failures\n1\s+1\s+0/)
    },
    90_000,
  )
})
