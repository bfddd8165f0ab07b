import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli-process.js'

describe('punchswarm demo', () => {
  it('runs the tracker, punches between two peers and shows the stats, then exits 0', async () => {
    const p = runCli(['demo'])
    const code = await p.exited
    expect(code, p.stderr()).toBe(0)
    expect(p.stdout()).toMatch(/both punched/)
    expect(p.stdout()).toMatch(/downloaded it over utp in [\d.]+ s; sha256 matches/)
    expect(p.stdout()).toMatch(/punch attempts\s+successes\s+failures\n1\s+1\s+0/)
  }, 30_000)
})
