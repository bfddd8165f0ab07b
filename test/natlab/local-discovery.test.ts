import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { isRoot, prerequisite } from '../helpers/require-tool.js'
import { labCli } from './lab/lab-cli.js'
import { createLab, type Lab } from './lab/netns-lab.js'

const gate = prerequisite('root (network namespaces)', isRoot())

let lab: Lab | undefined
afterAll(() => lab?.destroy())

describe.skipIf(gate.skip)('local service discovery (BEP 14) on a LAN in the lab', () => {
  it('two hosts behind one router find each other by multicast alone: no tracker, no DHT, no --peer', async () => {
    lab = createLab([
      { name: 'home', kind: 'cone' },
      { name: 'laptop', behind: 'home' },
    ])
    const dir = mkdtempSync(join(tmpdir(), 'punchswarm-lsd-'))
    try {
      mkdirSync(join(dir, 'data'))
      const content = randomBytes(1024 * 1024 + 3)
      writeFileSync(join(dir, 'data', 'payload.bin'), content)
      const home = lab.sites.get('home')!
      const laptop = lab.sites.get('laptop')!
      const seed = labCli(lab, home.hostNs, [
        'seed',
        join(dir, 'data', 'payload.bin'),
        '-p',
        '0',
        '--json',
        '--no-dht',
      ])
      const magnet = String((await seed.out.wait((l) => l.event === 'magnet')).uri)
      expect(magnet).not.toMatch(/[?&](tr|x\.pe)=/)
      // An announce of one line, which bittorrent-lsd's parser throws on (out of a socket handler):
      // any host of the LAN may send it. The seed must shrug it off.
      lab.exec(laptop.hostNs, [
        process.execPath,
        '-e',
        "const s = require('dgram').createSocket('udp4'); s.send('BT-SEARCH * HTTP/1.1', 6771, '239.192.152.143', () => s.close())",
      ])
      const get = labCli(lab, laptop.hostNs, [
        'get',
        magnet,
        '-o',
        join(dir, 'out'),
        '--timeout',
        '20',
        '--json',
        '--no-dht',
      ])
      const peer = get.out.wait((l) => l.event === 'peer', 25_000)
      expect(await get.exit, JSON.stringify(get.out.seen.slice(-5))).toBe(0)
      expect(readFileSync(join(dir, 'out', 'payload.bin')).equals(content)).toBe(true)
      // Straight across the LAN, to the seed's own address: the router never saw it.
      expect(String((await peer).address)).toMatch(new RegExp(`^${home.hostIp.replaceAll('.', '\\.')}:`))
      expect(seed.child.exitCode).toBeNull()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
