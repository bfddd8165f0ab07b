import { ProtocolError, TransportError } from '../errors.js'
import { ByteSlab } from './byte-slab.js'
import { Ledbat } from './ledbat.js'
import { RttEstimator } from './rtt-estimator.js'
import { seqAdd, seqDiff } from './seq.js'
import {
  UTP_DEFAULTS,
  type UtpConnectionHost,
  type UtpConnectionOptions,
  type UtpConnectionStats,
  type UtpState,
} from './utp-connection-types.js'
import {
  EXT_NONE,
  encodePacket,
  ST_DATA,
  ST_FIN,
  ST_SYN,
  UTP_HEADER_BYTES,
  type UtpPacket,
  writeHeader,
} from './utp-packet.js'

/** A packet we sent and may have to send again. */
interface OutPacket {
  seq: number
  typeCode: number
  /** The whole datagram; its header is refreshed in place on retransmission. */
  bytes: Uint8Array
  /** Payload bytes (what counts against the window). */
  size: number
  sentAt: number
  transmissions: number
  /** Counted in `inflight`: sent and neither acked, sacked nor declared lost. */
  inFlight: boolean
  sacked: boolean
  /** Declared lost and waiting in `resendQueue`. */
  lost: boolean
  /** Retransmitted because of a selective ack or duplicate acks (not a timeout). */
  fastRetransmitted?: boolean
}

/** Packets past the next expected one that we hold for reordering; further ones are dropped. */
const MAX_REORDER_PACKETS = 8192
/** Selective acks cover at most 256 packets past ack_nr + 1 (32 bytes, what libtorrent sends). */
const MAX_SACK_BITS = 256
/** A packet with this many later packets selectively acked is lost (BEP 29, as in libtorrent). */
const SACK_LOSS_THRESHOLD = 3
const DUP_ACK_THRESHOLD = 3
/**
 * Packet buffers for every connection in the process, carved from shared slabs: one slab is in use at
 * a time, and an older one lives only while a packet in it waits for its ack (a slab per connection
 * would keep 64 KiB for each idle one).
 */
const packetBuffers = new ByteSlab()

/**
 * One uTP connection (BEP 29) as a pure state machine: packets come in through `onPacket`, time
 * through `onTimer`, data through `write`/`end`; packets and events go out through the host. The
 * shell owns the socket and one timer per connection, armed at `nextDeadline()`.
 *
 * Connection ids: the initiator picks `recvId` and sends its SYN with it; both then send with the
 * other side's receive id (initiator sends `recvId + 1`, acceptor sends `recvId - 1`). Sequence numbers
 * count packets, not bytes, and wrap at 16 bits. A STATE packet carries the next sequence number
 * without consuming it, so the initiator takes `seq - 1` of the SYN's answer as the last one seen.
 */
export class UtpConnection {
  private stateValue: UtpState
  readonly recvId: number
  readonly sendId: number
  private seqNr: number
  private ackNr = 0
  private readonly synSeq: number | undefined
  /** The initiator has answered since its SYN, so it knows our sequence numbers (always true for it). */
  private peerConfirmed: boolean
  private readonly opt: Required<Omit<UtpConnectionOptions, 'targetDelayUs'>>
  private readonly ledbat: Ledbat
  private readonly rtt = new RttEstimator()

  // Sending.
  private readonly outgoing = new Map<number, OutPacket>()
  private oldestUnacked: number
  private inflight = 0
  private readonly resendQueue: number[] = []
  private readonly sendQueue: Uint8Array[] = []
  private sendQueueOffset = 0
  private sendQueueBytes = 0
  private writerBlocked = false
  private windowLimited = false
  private peerWindow = 1024 * 1024
  private lastAckReceived = -1
  /**
   * How long past one RTT a packet may lag its successors before it counts as lost (RACK's reordering
   * window, RFC 8985): starts at a quarter of the minimum RTT and grows when a loss proves spurious.
   */
  private reorderWindowFactor = 0.25
  private dupAcks = 0
  private finRequested = false
  private finSeq: number | undefined
  private finAcked = false

  // Receiving.
  private readonly reorder = new Map<number, UtpPacket>()
  private reorderBytes = 0
  private eofSeq: number | undefined
  private eofDelivered = false
  private ackPending = false
  private replyTimestampDiff = 0
  private lastAdvertisedWindow = 0

  // Timers, as deadlines the shell arms.
  private readonly startedAt: number
  private rtoAt: number | undefined
  private lastProgressAt: number
  private lastSendAt: number
  private closeError: TransportError | undefined

  readonly stats: UtpConnectionStats = {
    packetsSent: 0,
    packetsReceived: 0,
    retransmits: 0,
    fastRetransmits: 0,
    spuriousRetransmits: 0,
    timeouts: 0,
    duplicatesReceived: 0,
    dropped: 0,
    bytesSent: 0,
    bytesReceived: 0,
  }

  private constructor(
    private readonly host: UtpConnectionHost,
    ids: { recvId: number; sendId: number; seqNr: number; synSeq?: number },
    state: UtpState,
    options: UtpConnectionOptions,
  ) {
    this.opt = {
      mss: options.mss ?? UTP_DEFAULTS.mss,
      recvWindow: options.recvWindow ?? UTP_DEFAULTS.recvWindow,
      sendBuffer: options.sendBuffer ?? UTP_DEFAULTS.sendBuffer,
      timeoutMs: options.timeoutMs ?? UTP_DEFAULTS.timeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? UTP_DEFAULTS.connectTimeoutMs,
      keepaliveMs: options.keepaliveMs ?? UTP_DEFAULTS.keepaliveMs,
    }
    const ledbatOptions: ConstructorParameters<typeof Ledbat>[0] = { mss: this.opt.mss }
    if (options.targetDelayUs !== undefined) ledbatOptions.targetDelayUs = options.targetDelayUs
    this.ledbat = new Ledbat(ledbatOptions)
    this.recvId = ids.recvId
    this.sendId = ids.sendId
    this.seqNr = ids.seqNr
    this.oldestUnacked = ids.seqNr
    this.synSeq = ids.synSeq
    this.stateValue = state
    this.peerConfirmed = state === 'syn-sent'
    const now = host.now()
    this.startedAt = now
    this.lastProgressAt = now
    this.lastSendAt = now
  }

  /** Opens a connection: sends the SYN. `recvId` must be unused (with `recvId + 1`) for this peer. */
  static connect(
    host: UtpConnectionHost,
    recvId: number,
    initialSeq: number,
    options: UtpConnectionOptions = {},
  ): UtpConnection {
    const c = new UtpConnection(
      host,
      { recvId, sendId: (recvId + 1) & 0xffff, seqNr: initialSeq & 0xffff },
      'syn-sent',
      options,
    )
    c.sendSyn()
    return c
  }

  /** Answers a SYN: the connection is open at once and may send (as libtorrent's acceptor does). */
  static accept(
    host: UtpConnectionHost,
    syn: UtpPacket,
    initialSeq: number,
    options: UtpConnectionOptions = {},
  ): UtpConnection {
    if (syn.type !== 'syn')
      throw new ProtocolError('PROTOCOL_UNEXPECTED_MESSAGE', `accept() of a ${syn.type}`)
    const c = new UtpConnection(
      host,
      {
        recvId: (syn.connectionId + 1) & 0xffff,
        sendId: syn.connectionId,
        seqNr: initialSeq & 0xffff,
        synSeq: syn.seq,
      },
      'connected',
      options,
    )
    c.ackNr = syn.seq
    c.peerWindow = syn.windowSize
    c.noteReceived(syn)
    c.ackPending = true
    host.requestFlush()
    return c
  }

  get state(): UtpState {
    return this.stateValue
  }

  /** Both FINs were exchanged and acknowledged (a RESET, timeout or destroy is not graceful). */
  get closedGracefully(): boolean {
    return this.stateValue === 'closed' && this.closeError === undefined && this.finAcked && this.eofDelivered
  }

  /** Unsent bytes buffered. */
  get bufferedBytes(): number {
    return this.sendQueueBytes
  }

  /** The sequence number the next data packet will carry. */
  get nextSeq(): number {
    return this.seqNr
  }

  /** The oldest of our packets not yet acknowledged (equal to `nextSeq` when all are). */
  get oldestUnackedSeq(): number {
    return this.oldestUnacked
  }

  get congestionWindow(): number {
    return this.ledbat.cwnd
  }

  get queuingDelayUs(): number {
    return this.ledbat.queuingDelayUs
  }

  get rttMs(): number {
    return this.rtt.rtt
  }

  get bytesInFlight(): number {
    return this.inflight
  }

  /** Queues bytes; returns false when the send buffer is full (wait for `onDrain`). */
  write(bytes: Uint8Array): boolean {
    if (this.stateValue === 'closed')
      throw new TransportError('TRANSPORT_CLOSED', 'write after the uTP connection closed')
    if (this.finRequested) throw new ProtocolError('PROTOCOL_ILLEGAL_TRANSITION', 'write after end()')
    if (bytes.length > 0) {
      this.sendQueue.push(bytes)
      this.sendQueueBytes += bytes.length
      this.host.requestFlush()
    }
    const ok = this.sendQueueBytes < this.opt.sendBuffer
    if (!ok) this.writerBlocked = true
    return ok
  }

  /** No more writes: a FIN follows the buffered data. */
  end(): void {
    if (this.finRequested || this.stateValue === 'closed') return
    this.finRequested = true
    this.host.requestFlush()
  }

  /** Aborts: tells the peer with a RESET (unless already closed) and closes without an error. */
  destroy(): void {
    if (this.stateValue === 'closed') return
    this.sendControl(3)
    this.close(undefined)
  }

  /** The application read some of its backlog: announce the reopened window if it had nearly closed. */
  onRead(): void {
    if (this.stateValue !== 'connected') return
    if (this.lastAdvertisedWindow < 2 * this.opt.mss && this.advertisedWindow() >= 2 * this.opt.mss) {
      this.ackPending = true
      this.host.requestFlush()
    }
  }

  /** One decoded packet from the peer (the endpoint already matched the connection id). */
  onPacket(p: UtpPacket): void {
    this.stats.packetsReceived++
    switch (this.stateValue) {
      case 'closed':
        // Lingering after a clean close: re-ack a retransmitted FIN so the peer can close too.
        if (p.type === 'fin' && this.closeError === undefined && this.eofDelivered) this.sendControl(2)
        return
      case 'syn-sent':
        if (p.type === 'reset') {
          this.close(new TransportError('TRANSPORT_REFUSED', 'uTP connection refused (RESET)'))
          return
        }
        if (p.type === 'syn') return
        // Only an answer that acks our SYN opens the connection; anything else is not for us.
        if (p.ack !== seqAdd(this.seqNr, -1)) {
          this.stats.dropped++
          return
        }
        // The SYN's answer: a STATE carries the acceptor's next sequence number without using it.
        // (A DATA that overtook that STATE is the acceptor's first packet, so the same holds.)
        this.ackNr = seqAdd(p.seq, -1)
        this.stateValue = 'connected'
        this.ledbat.observeDelay(p.timestampDiff, this.host.now())
        this.noteReceived(p)
        this.processAck(p)
        if (this.stateValue !== 'connected') return
        this.host.onConnect()
        if (p.type === 'data' || p.type === 'fin') this.processIncoming(p)
        this.host.requestFlush()
        return
      case 'connected':
        if (p.type === 'reset') {
          this.close(new TransportError('TRANSPORT_RESET', 'uTP connection reset by peer'))
          return
        }
        if (p.type === 'syn') {
          // Our answer to the SYN was lost: answer again.
          if (p.seq === this.synSeq) {
            this.ackPending = true
            this.host.requestFlush()
          }
          return
        }
        // An ack of a packet we never sent is forged or corrupt: drop the whole packet (as libtorrent).
        if (seqDiff(p.ack, seqAdd(this.seqNr, -1)) > 0) {
          this.stats.dropped++
          return
        }
        this.peerConfirmed = true
        this.noteReceived(p)
        this.processAck(p)
        if (this.stateValue !== 'connected') return
        if (p.type === 'data' || p.type === 'fin') this.processIncoming(p)
        this.maybeClosed()
        this.host.requestFlush()
        return
    }
  }

  /** Sends what the windows allow and any pending ack. Called by the shell after a batch of input. */
  flush(): void {
    if (this.stateValue !== 'connected') return
    const sentBefore = this.stats.packetsSent
    this.sendData()
    if (this.ackPending && this.stats.packetsSent === sentBefore) this.sendControl(2)
    this.ackPending = false
  }

  /** The earliest time `onTimer` has work, or undefined when nothing is scheduled. */
  nextDeadline(): number | undefined {
    switch (this.stateValue) {
      case 'closed':
        return undefined
      case 'syn-sent':
        return Math.min(this.rtoAt ?? Number.POSITIVE_INFINITY, this.startedAt + this.opt.connectTimeoutMs)
      case 'connected': {
        const dead =
          this.outgoing.size > 0 ? this.lastProgressAt + this.opt.timeoutMs : Number.POSITIVE_INFINITY
        return Math.min(this.rtoAt ?? Number.POSITIVE_INFINITY, this.lastSendAt + this.opt.keepaliveMs, dead)
      }
    }
  }

  /**
   * Fires due timers: connect timeout, retransmission timeout, dead peer, keepalive. Each test is
   * written exactly as its deadline is computed, so a timer armed for a deadline always finds it due.
   */
  onTimer(): void {
    const now = this.host.now()
    if (this.stateValue === 'closed') return
    if (this.stateValue === 'syn-sent' && now >= this.startedAt + this.opt.connectTimeoutMs) {
      this.close(
        new TransportError(
          'TRANSPORT_TIMEOUT',
          `uTP connect timed out after ${this.opt.connectTimeoutMs} ms`,
        ),
      )
      return
    }
    if (
      this.stateValue === 'connected' &&
      this.outgoing.size > 0 &&
      now >= this.lastProgressAt + this.opt.timeoutMs
    ) {
      this.close(
        new TransportError(
          'TRANSPORT_TIMEOUT',
          `uTP peer silent for ${Math.round(now - this.lastProgressAt)} ms`,
        ),
      )
      return
    }
    if (this.rtoAt !== undefined && now >= this.rtoAt) this.onRetransmitTimeout(now)
    if (this.stateValue === 'connected' && now >= this.lastSendAt + this.opt.keepaliveMs) this.sendControl(2)
  }

  // --- receiving -------------------------------------------------------------------------------

  private noteReceived(p: UtpPacket): void {
    // The one-way delay we report back: our receive time minus the sender's timestamp (mod 2^32).
    this.replyTimestampDiff = (this.nowUs() - p.timestamp) >>> 0
    this.peerWindow = p.windowSize
  }

  private processAck(p: UtpPacket): void {
    const now = this.host.now()
    let bytesAcked = 0
    let progressed = false
    if (seqDiff(p.ack, this.oldestUnacked) >= 0) {
      while (seqDiff(this.oldestUnacked, p.ack) <= 0 && this.oldestUnacked !== this.seqNr) {
        const op = this.outgoing.get(this.oldestUnacked)
        if (op) {
          bytesAcked += this.retire(op, now)
          this.outgoing.delete(op.seq)
        }
        this.oldestUnacked = seqAdd(this.oldestUnacked, 1)
        progressed = true
      }
    }
    if (p.sack) bytesAcked += this.processSack(p.ack, p.sack, now)
    if (progressed) {
      this.dupAcks = 0
      this.lastProgressAt = now
      this.rtt.resetBackoff()
      this.rtoAt = this.outgoing.size > 0 ? now + this.rtt.timeoutMs : undefined
    } else if (
      p.ack === this.lastAckReceived &&
      p.type === 'state' &&
      this.outgoing.size > 0 &&
      ++this.dupAcks === DUP_ACK_THRESHOLD
    ) {
      const first = this.outgoing.get(this.oldestUnacked)
      if (first && !first.lost) {
        first.fastRetransmitted = true
        this.declareLost(first, now)
      }
    }
    this.lastAckReceived = p.ack
    if (bytesAcked > 0) {
      this.lastProgressAt = now
      this.ledbat.onAck(bytesAcked, p.timestampDiff, now, this.rtt.rtt, this.windowLimited)
      this.windowLimited = false
    }
    if (
      this.finSeq !== undefined &&
      !this.finAcked &&
      !this.outgoing.has(this.finSeq) &&
      seqDiff(this.finSeq, this.oldestUnacked) < 0
    ) {
      this.finAcked = true
      this.host.onFinish()
    }
    if (this.writerBlocked && this.sendQueueBytes < this.opt.sendBuffer) {
      this.writerBlocked = false
      this.host.onDrain()
    }
  }

  /** Bits of the selective ack name packets ack+2, ack+3, ... that arrived. */
  private processSack(ack: number, sack: Uint8Array, now: number): number {
    let bytes = 0
    let highest = -1
    for (let i = 0; i < sack.length * 8; i++) {
      if ((sack[i >> 3]! & (1 << (i & 7))) === 0) continue
      const op = this.outgoing.get(seqAdd(ack, 2 + i))
      if (!op) continue
      highest = i
      if (!op.sacked) {
        bytes += this.retire(op, now)
        op.sacked = true
      }
    }
    if (highest < 0) return bytes
    // A packet with enough later packets acked is lost; resend it rather than wait for the timeout.
    let sackedAfter = 0
    for (let i = highest; i >= -1; i--) {
      const op = this.outgoing.get(seqAdd(ack, 2 + i))
      if (!op) continue
      if (op.sacked) sackedAfter++
      else if (
        sackedAfter >= SACK_LOSS_THRESHOLD &&
        !op.lost &&
        now >= op.sentAt + this.rtt.rtt + this.reorderWindowFactor * this.rtt.minRtt
      ) {
        op.fastRetransmitted = true
        this.declareLost(op, now)
      }
    }
    return bytes
  }

  /** Accounts a packet as delivered; returns the payload bytes it frees. */
  private retire(op: OutPacket, now: number): number {
    if (op.sacked) return 0
    if (op.lost && op.transmissions === 1) {
      // Declared lost, acked before its resend went out: it was only reordered.
      this.onSpuriousLoss()
    } else if (op.transmissions === 1) this.rtt.sample(now - op.sentAt)
    else if (op.fastRetransmitted && now - op.sentAt < this.rtt.minRtt / 2) {
      // Acked sooner than the resend could have travelled: the original arrived, merely reordered.
      // Undo the window cut and allow more reordering from now on.
      this.stats.spuriousRetransmits++
      this.onSpuriousLoss()
    }
    if (op.inFlight) {
      op.inFlight = false
      this.inflight -= op.size
    }
    return op.size
  }

  private onSpuriousLoss(): void {
    this.ledbat.undoLoss()
    this.reorderWindowFactor = Math.min(this.reorderWindowFactor * 2, 4)
  }

  private declareLost(op: OutPacket, now: number): void {
    op.lost = true
    if (op.inFlight) {
      op.inFlight = false
      this.inflight -= op.size
    }
    this.resendQueue.push(op.seq)
    this.stats.fastRetransmits++
    this.ledbat.onLoss(now, this.rtt.rtt)
  }

  private processIncoming(p: UtpPacket): void {
    const d = seqDiff(p.seq, this.ackNr)
    if (d <= 0) {
      // Already have it: our ack was lost or the network duplicated it. Ack again.
      this.stats.duplicatesReceived++
      this.ackPending = true
      return
    }
    if (this.eofSeq !== undefined && seqDiff(p.seq, this.eofSeq) > 0) return
    if (d > MAX_REORDER_PACKETS) {
      this.stats.dropped++
      return
    }
    if (d > 1) {
      if (!this.reorder.has(p.seq)) {
        this.reorder.set(p.seq, p)
        this.reorderBytes += p.payload.length
        if (p.type === 'fin') this.eofSeq = p.seq
      } else {
        this.stats.duplicatesReceived++
      }
      this.ackPending = true
      return
    }
    this.deliver(p)
    for (
      let next = this.reorder.get(seqAdd(this.ackNr, 1));
      next;
      next = this.reorder.get(seqAdd(this.ackNr, 1))
    ) {
      this.reorder.delete(next.seq)
      this.reorderBytes -= next.payload.length
      this.deliver(next)
    }
    this.ackPending = true
  }

  private deliver(p: UtpPacket): void {
    this.ackNr = p.seq
    if (p.type === 'fin') {
      this.eofSeq = p.seq
      this.eofDelivered = true
      this.reorder.clear()
      this.reorderBytes = 0
      this.host.onEnd()
      return
    }
    if (p.payload.length > 0) {
      this.stats.bytesReceived += p.payload.length
      this.host.onData(p.payload)
    }
  }

  private maybeClosed(): void {
    if (this.finAcked && this.eofDelivered && this.stateValue === 'connected') {
      // Ack the peer's FIN before going quiet.
      this.sendControl(2)
      this.close(undefined)
    }
  }

  // --- sending ---------------------------------------------------------------------------------

  private sendData(): void {
    const now = this.host.now()
    const mss = this.opt.mss
    // Lost packets go first: the receiver is waiting on them.
    while (this.resendQueue.length > 0) {
      const op = this.outgoing.get(this.resendQueue[0]!)
      if (!op?.lost || op.sacked) {
        this.resendQueue.shift()
        continue
      }
      if (this.inflight > 0 && this.inflight + op.size > this.window()) {
        this.windowLimited = true
        return
      }
      this.resendQueue.shift()
      op.lost = false
      this.transmit(op, now)
    }
    while (this.sendQueueBytes > 0) {
      const size = Math.min(mss, this.sendQueueBytes)
      if (this.inflight + size > this.window()) {
        this.windowLimited = true
        // A zero window is probed from the retransmission timer.
        if (this.rtoAt === undefined) this.rtoAt = now + this.rtt.timeoutMs
        break
      }
      // Keep the unacked span well inside half the 16-bit sequence space.
      if (seqDiff(this.seqNr, this.oldestUnacked) >= 16_000) break
      if (!this.mayStartPacket()) break
      this.sendNew(ST_DATA, this.takeFromQueue(size), now)
    }
    if (
      this.finRequested &&
      this.finSeq === undefined &&
      this.sendQueueBytes === 0 &&
      this.mayStartPacket()
    ) {
      this.finSeq = this.seqNr
      this.sendNew(ST_FIN, new Uint8Array(UTP_HEADER_BYTES), now)
    }
    if (this.writerBlocked && this.sendQueueBytes < this.opt.sendBuffer) {
      this.writerBlocked = false
      this.host.onDrain()
    }
  }

  /**
   * An acceptor has one packet in flight until the initiator has sent something after its SYN. The
   * initiator takes our sequence number from the first packet of ours it sees; were a second DATA to
   * overtake a lost first one, it would start counting past the lost bytes and never ask for them.
   */
  private mayStartPacket(): boolean {
    return this.peerConfirmed || this.outgoing.size === 0
  }

  private window(): number {
    return Math.min(this.ledbat.cwnd, this.peerWindow)
  }

  private takeFromQueue(size: number): Uint8Array {
    const out = packetBuffers.take(UTP_HEADER_BYTES + size)
    let o = UTP_HEADER_BYTES
    while (o < out.length) {
      const head = this.sendQueue[0]!
      const n = Math.min(head.length - this.sendQueueOffset, out.length - o)
      out.set(head.subarray(this.sendQueueOffset, this.sendQueueOffset + n), o)
      o += n
      this.sendQueueOffset += n
      if (this.sendQueueOffset === head.length) {
        this.sendQueue.shift()
        this.sendQueueOffset = 0
      }
    }
    this.sendQueueBytes -= size
    return out
  }

  /** `bytes` has room for the header; the payload is already in place. */
  private sendNew(typeCode: number, bytes: Uint8Array, now: number): void {
    const payloadBytes = bytes.length - UTP_HEADER_BYTES
    const op: OutPacket = {
      seq: this.seqNr,
      typeCode,
      bytes,
      size: payloadBytes,
      sentAt: now,
      transmissions: 0,
      inFlight: false,
      sacked: false,
      lost: false,
    }
    this.outgoing.set(op.seq, op)
    this.seqNr = seqAdd(this.seqNr, 1)
    this.stats.bytesSent += payloadBytes
    this.transmit(op, now)
  }

  private transmit(op: OutPacket, now: number): void {
    writeHeader(
      op.bytes,
      op.typeCode,
      EXT_NONE,
      op.typeCode === ST_SYN ? this.recvId : this.sendId,
      this.nowUs(),
      this.replyTimestampDiff,
      this.advertisedWindow(),
      op.seq,
      this.ackNr,
    )
    if (op.transmissions > 0) this.stats.retransmits++
    op.transmissions++
    op.sentAt = now
    if (!op.inFlight) {
      op.inFlight = true
      this.inflight += op.size
    }
    this.ackPending = false
    this.lastSendAt = now
    this.stats.packetsSent++
    if (this.rtoAt === undefined) this.rtoAt = now + this.rtt.timeoutMs
    this.host.send(op.bytes)
  }

  private sendSyn(): void {
    this.sendNew(ST_SYN, new Uint8Array(UTP_HEADER_BYTES), this.host.now())
  }

  /** STATE (2) or RESET (3): not sequenced, never retransmitted. A STATE carries a selective ack. */
  private sendControl(typeCode: 2 | 3): void {
    const packet: UtpPacket = {
      type: typeCode === 2 ? 'state' : 'reset',
      connectionId: this.sendId,
      timestamp: this.nowUs(),
      timestampDiff: this.replyTimestampDiff,
      windowSize: this.advertisedWindow(),
      // Until the initiator is known to have our sequence number, every packet names the first one.
      seq: this.peerConfirmed ? this.seqNr : this.oldestUnacked,
      ack: this.ackNr,
      payload: new Uint8Array(0),
    }
    if (typeCode === 2 && this.reorder.size > 0) packet.sack = this.buildSack()
    this.lastSendAt = this.host.now()
    this.stats.packetsSent++
    this.ackPending = false
    this.host.send(encodePacket(packet))
  }

  private buildSack(): Uint8Array {
    let maxBit = -1
    for (const seq of this.reorder.keys()) {
      const bit = seqDiff(seq, this.ackNr) - 2
      if (bit >= 0 && bit < MAX_SACK_BITS && bit > maxBit) maxBit = bit
    }
    const sack = new Uint8Array(Math.max(4, Math.ceil((maxBit + 1) / 32) * 4))
    for (const seq of this.reorder.keys()) {
      const bit = seqDiff(seq, this.ackNr) - 2
      if (bit >= 0 && bit < sack.length * 8) sack[bit >> 3]! |= 1 << (bit & 7)
    }
    return sack
  }

  private advertisedWindow(): number {
    const w = Math.max(0, this.opt.recvWindow - this.host.readBacklog() - this.reorderBytes)
    this.lastAdvertisedWindow = w
    return w
  }

  private onRetransmitTimeout(now: number): void {
    this.stats.timeouts++
    this.rtt.onTimeout()
    this.rtoAt = undefined
    if (this.outgoing.size === 0) {
      // Zero-window probe: the peer's window may have opened and its update been lost.
      if (this.sendQueueBytes > 0 && this.inflight === 0) {
        this.peerWindow = Math.max(this.peerWindow, this.opt.mss)
        this.sendData()
      }
      return
    }
    this.ledbat.onTimeout()
    // Everything unacked is presumed lost; resend from the oldest as the (now small) window allows.
    this.resendQueue.length = 0
    for (let s = this.oldestUnacked; s !== this.seqNr; s = seqAdd(s, 1)) {
      const op = this.outgoing.get(s)
      if (!op || op.sacked) continue
      op.lost = true
      if (op.inFlight) {
        op.inFlight = false
        this.inflight -= op.size
      }
      this.resendQueue.push(s)
    }
    const first = this.outgoing.get(this.resendQueue[0] ?? this.oldestUnacked)
    if (first) {
      this.resendQueue.shift()
      first.lost = false
      this.transmit(first, now)
    }
    this.rtoAt = now + this.rtt.timeoutMs
    if (this.stateValue === 'connected') this.sendData()
  }

  private close(error: TransportError | undefined): void {
    if (this.stateValue === 'closed') return
    this.stateValue = 'closed'
    this.closeError = error
    this.rtoAt = undefined
    this.outgoing.clear()
    this.resendQueue.length = 0
    this.sendQueue.length = 0
    this.sendQueueBytes = 0
    this.reorder.clear()
    this.host.onClose(error)
  }

  private nowUs(): number {
    return Math.floor(this.host.now() * 1000) >>> 0
  }
}
