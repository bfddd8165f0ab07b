/**
 * A child process for the crash test of PieceStore: it opens the store, then writes every missing
 * piece (read from a complete copy of the content) in a seeded random order until done. The parent
 * SIGKILLs it at random moments and checks what survives.
 *
 * argv: <torrent file> <directory holding the complete content> <download dir> <seed>
 */
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { loadTorrent } from '../../client/metainfo/torrent-loader.js'
import { PieceStore } from '../../client/storage/piece-store.js'

const [torrentPath, sourceDir, downloadDir, seedText] = process.argv.slice(2)
const m = await loadTorrent(torrentPath!)
const store = await PieceStore.open(m.layout, downloadDir!, { infoHashHex: m.infoHashHex })
const source = await PieceStore.open(m.layout, sourceDir!, {
  resumeFile: join(downloadDir!, 'source.resume'),
})
const order = Array.from({ length: m.layout.pieceCount }, (_, i) => i)
let seed = Number(seedText) >>> 0 || 1
for (let i = order.length - 1; i > 0; i--) {
  seed = (seed * 1103515245 + 12345) >>> 0
  const j = seed % (i + 1)
  ;[order[i], order[j]] = [order[j]!, order[i]!]
}
process.stdout.write('ready\n')
for (const i of order) {
  if (store.has(i)) continue
  const data = await source.readBlock(i, 0, store.pieceSize(i))
  if (!(await store.writePiece(i, data))) throw new Error(`piece ${i} failed to verify`)
}
await store.close()
await source.close()
// Keep the log handle idle: the parent may kill us right after completion too.
await (await open(join(downloadDir!, 'child-done'), 'w')).close()
