// Types for the parts of the create-torrent package (6.x, untyped) that torrent-creator.ts uses.
declare module 'create-torrent' {
  export interface CreateTorrentOptions {
    name?: string
    creationDate?: Date
    comment?: string
    createdBy?: string
    private?: boolean
    pieceLength?: number
    maxPieceLength?: number
    announceList?: string[][]
    urlList?: string[]
  }
  export interface ParsedInputFile {
    name: string
    path: string[]
    length: number
  }
  export function parseInput(
    input: string | string[],
    opts: CreateTorrentOptions,
    cb: (err: Error | null, files: ParsedInputFile[], singleFileTorrent: boolean) => void,
  ): void
  function createTorrent(
    input: string | string[],
    opts: CreateTorrentOptions,
    cb: (err: Error | null, torrent: Uint8Array) => void,
  ): void
  // biome-ignore lint/style/noDefaultExport: describes the package's own default export
  export default createTorrent
}
