/**
 * Who we upload to: tit-for-tat regular slots plus one rotating optimistic unchoke (BEP 3 choking).
 * Pure state: the engine passes the peers and their rates each round and applies the result.
 */
import type { Random } from '../clock.js'

export interface ChokerPeer {
  id: string
  interested: boolean
  /** bytes/s we receive from it */
  downloadRate: number
  /** bytes/s we send to it */
  uploadRate: number
}

export interface ChokerOptions {
  random: Random
  /** regular unchoke slots @default 4 */
  slots?: number
  /** optimistic unchoke rotates every this many rounds @default 3 (rounds are 10 s) */
  optimisticEveryRounds?: number
}

export class Choker {
  readonly #random: Random
  readonly #slots: number
  readonly #every: number
  #round = 0
  #optimistic: string | undefined
  #optimisticSince = 0

  constructor(o: ChokerOptions) {
    this.#random = o.random
    this.#slots = Math.max(0, o.slots ?? 4)
    this.#every = Math.max(1, o.optimisticEveryRounds ?? 3)
  }

  get optimistic(): string | undefined {
    return this.#optimistic
  }

  /**
   * One choking round: returns the ids to unchoke, everyone else is choked. Leeching ranks by what
   * a peer gives us (tit-for-tat); seeding ranks by what we give it, which favours peers that can
   * take data fast and so spreads pieces quickest (libtorrent's fastest_upload).
   */
  rechoke(peers: ChokerPeer[], seeding: boolean): Set<string> {
    this.#round++
    const interested = this.#shuffled(peers.filter((p) => p.interested))
    // Stable sort over a shuffle: equal rates (new peers at 0) are ordered at random.
    const rate = (p: ChokerPeer) => (seeding ? p.uploadRate : p.downloadRate)
    interested.sort((a, b) => rate(b) - rate(a))
    const unchoke = new Set(interested.slice(0, this.#slots).map((p) => p.id))

    const others = interested.filter((p) => !unchoke.has(p.id))
    const current = this.#optimistic
    const keep =
      current !== undefined &&
      this.#round - this.#optimisticSince < this.#every &&
      others.some((p) => p.id === current)
    if (!keep) {
      // Rotating means someone new gets the chance, when there is anyone else.
      const pool = others.length > 1 ? others.filter((p) => p.id !== current) : others
      this.#optimistic = pool.length > 0 ? pool[this.#random.int(pool.length)]!.id : undefined
      this.#optimisticSince = this.#round
    }
    if (this.#optimistic !== undefined) unchoke.add(this.#optimistic)
    return unchoke
  }

  #shuffled(peers: ChokerPeer[]): ChokerPeer[] {
    for (let i = peers.length - 1; i > 0; i--) {
      const j = this.#random.int(i + 1)
      const x = peers[i]!
      peers[i] = peers[j]!
      peers[j] = x
    }
    return peers
  }
}
