import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
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

/**
 * A peer of a magnet download that offers metadata and serves bytes the `bencode` package hangs on
 * (ut_metadata decodes the assembled metadata before checking its hash). Speaks plaintext only, so
 * the client's PE attempt is ended and it dials again in plaintext.
 */
async function badMetadataPeer(infoHash: Uint8Array, metadata: Buffer) {
  let served = 0
  const server = createServer((socket: Socket) => {
    socket.on('error', () => {})
    let buf = Buffer.alloc(0)
    let shookHands = false
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      if (!shookHands) {
        if (buf[0] !== 19) return void socket.destroy()
        if (buf.length < 68) return
        shookHands = true
        buf = buf.subarray(68)
        const reserved = Buffer.alloc(8)
        reserved[5] = 0x10
        const handshake = Buffer.from(`d1:md11:ut_metadatai3ee13:metadata_sizei${metadata.length}ee`)
        const ext = Buffer.concat([Buffer.from([20, 0]), handshake])
        socket.write(
          Buffer.concat([
            Buffer.from([19]),
            Buffer.from('BitTorrent protocol'),
            reserved,
            infoHash,
            randomBytes(20),
          ]),
        )
        socket.write(Buffer.concat([u32(ext.length), ext]))
      }
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const body = buf.subarray(4, 4 + buf.readUInt32BE(0))
        buf = buf.subarray(4 + body.length)
        // A ut_metadata request to our id 3: answer with piece 0, to the client's ut_metadata id (1).
        if (body[0] === 20 && body[1] === 3 && body.includes(Buffer.from('msg_typei0e'))) {
          const head = Buffer.from(`d8:msg_typei1e5:piecei0e10:total_sizei${metadata.length}ee`)
          const msg = Buffer.concat([Buffer.from([20, 1]), head, metadata])
          socket.write(Buffer.concat([u32(msg.length), msg]))
          served++
        }
      }
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  cleanups.push(() => new Promise((r) => server.close(r)))
  return { port: (server.address() as { port: number }).port, served: () => served }
}

describe('a peer serving metadata the bencode package would hang on', () => {
  it('fails the metadata fetch and the magnet download stays alive', async () => {
    const infoHash = randomBytes(20)
    const evil = await badMetadataPeer(
      infoHash,
      Buffer.from('d4:infod6:lengthi1e4:name-3:abc12:piece lengthi16384eee'),
    )
    const get = runCli([
      'get',
      `magnet:?xt=urn:btih:${infoHash.toString('hex')}`,
      '-o',
      mkdtempSync(join(tmpdir(), 'punchswarm-hostile-meta-')),
      '--peer',
      `127.0.0.1:${evil.port}`,
      '--json',
    ])
    cleanups.push(async () => {
      get.kill('SIGKILL')
      await get.exited
    })
    const deadline = Date.now() + 15_000
    while (evil.served() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(evil.served()).toBeGreaterThan(0)
    // Alive: it goes on reporting progress every 500 ms (a hung process prints nothing more).
    const progress = () =>
      get
        .stdout()
        .split('\n')
        .filter((l) => l.includes('"event":"progress"')).length
    const before = progress()
    await new Promise((r) => setTimeout(r, 2500))
    expect(progress() - before).toBeGreaterThanOrEqual(3)
    expect(get.child.exitCode).toBeNull()
  }, 30_000)
})
