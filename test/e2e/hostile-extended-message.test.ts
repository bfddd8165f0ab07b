import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createTorrent } from '../../client/metainfo/torrent-creator.js'
import { parseTorrentBytes } from '../../client/metainfo/torrent-loader.js'
import { SwarmClient } from '../../client/swarm/swarm-client.js'
import { type CliProcess, runCli } from '../helpers/cli-process.js'

/**
 * The `bencode` package that bittorrent-protocol, ut_metadata and ut_pex decode with loops forever on
 * a negative string length. A seeder (its own process, so a hang shows as silence, not as a stuck
 * test run) is sent such extended messages by a peer; each must close that peer's connection, and
 * the seeder must go on serving.
 */

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const u32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

/** Our handshake (extension protocol bit set) and one extended message. */
function attack(infoHash: Uint8Array, extendedId: number, payload: Uint8Array): Buffer {
  const reserved = Buffer.alloc(8)
  reserved[5] = 0x10
  const handshake = Buffer.concat([
    Buffer.from([19]),
    Buffer.from('BitTorrent protocol'),
    reserved,
    infoHash,
    randomBytes(20),
  ])
  const body = Buffer.concat([Buffer.from([20, extendedId]), payload])
  return Buffer.concat([handshake, u32(body.length), body])
}

/** Connects, sends, and resolves with how long the seeder took to close the connection. */
function closedAfter(port: number, bytes: Buffer, boundMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now()
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(bytes))
    socket.on('data', () => {})
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(Date.now() - t0)
    })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`the seeder kept the connection open ${boundMs} ms`))
    }, boundMs)
  })
}

/** Valid bencode as bytes; as ut_metadata reads it (text, U+FFFD for bad UTF-8) a string's content
 * becomes structure: key "r" with length -3. */
function utMetadataDesync(): Buffer {
  const content = Buffer.concat([Buffer.alloc(5, 0xff), Buffer.from('1:r-3:abcd')])
  return Buffer.concat([Buffer.from(`d1:x${content.length}:`), content, Buffer.from('1:yi0ee')])
}

describe('a peer sending extended messages the bencode package would hang on', () => {
  it('has only its connection closed (handshake, ut_metadata, ut_pex), and the seeder still serves', async () => {
    const root = mkdtempSync(join(tmpdir(), 'punchswarm-hostile-'))
    cleanups.push(() => rmSync(root, { recursive: true, force: true }))
    mkdirSync(join(root, 'src'))
    const content = randomBytes(1024 * 1024 + 7)
    writeFileSync(join(root, 'src', 'payload.bin'), content)
    const m = parseTorrentBytes(await createTorrent(join(root, 'src', 'payload.bin'), { pieceLength: 32768 }))
    const torrent = join(root, 'payload.torrent')
    writeFileSync(torrent, m.torrentBytes)

    const seeder: CliProcess = runCli([
      'seed',
      torrent,
      '--dir',
      join(root, 'src'),
      '-p',
      '0',
      '--no-utp',
      '--json',
    ])
    cleanups.push(async () => {
      seeder.kill('SIGKILL')
      await seeder.exited
    })
    const port = Number(JSON.parse(await seeder.waitForLine(/"event":"listening"/)).port)

    // The session registers ut_metadata, then ut_pex: our extended ids 1 and 2 (BEP 10).
    const hostile: Array<[number, Uint8Array]> = [
      [0, Buffer.from('d1:r-3:seqe')],
      [2, Buffer.from('d5:added-6:xxxxxxe')],
      [1, utMetadataDesync()],
    ]
    for (const [id, payload] of hostile) {
      expect(await closedAfter(port, attack(m.infoHash, id, payload), 5000)).toBeLessThan(5000)
    }

    const leecher = await SwarmClient.open({ host: '127.0.0.1', utp: false })
    cleanups.push(() => leecher.close())
    const session = await leecher.add({ infoHash: m.infoHash, metainfo: m, dir: join(root, 'out') })
    session.addPeer('127.0.0.1', port)
    await new Promise<void>((resolve) => session.once('complete', () => resolve()))
    expect(readFileSync(join(root, 'out', 'payload.bin')).equals(content)).toBe(true)
    expect(seeder.child.exitCode).toBeNull()
  }, 60_000)
})
