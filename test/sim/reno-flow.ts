import type { UdpAddress } from '../../protocol/datagram-socket.js'
import type { MemorySocket } from './memory-network.js'
import type { VirtualClock } from './virtual-clock.js'

/** First byte of every flow datagram: not a uTP version/type byte, so a uTP endpoint ignores it. */
export const RENO_MARKER = 0xff
const DATA = 1
const ACK = 2
const HEADER_BYTES = 8
const MIN_RTO_MS = 200
const MAX_RTO_MS = 60_000
const INITIAL_RTO_MS = 1000
const INITIAL_CWND = 2
/** The receiver's window: bounds what one flow keeps in flight, as rwnd does for TCP. */
const MAX_WINDOW_SEGMENTS = 2000
/** Appropriate Byte Counting (RFC 3465): at most 2 segments of growth per ack in slow start. */
const ABC_LIMIT = 2

export interface RenoFlowOptions {
  clock: VirtualClock
  from: MemorySocket
  to: MemorySocket
  /** Where the sender addresses data (e.g. a NAT's public endpoint). @default to.address() */
  target?: UdpAddress
  /** Datagram size of a data segment. @default 1200 */
  segmentBytes?: number
}

export interface RenoFlow {
  /** Bytes the receiver has cumulatively acknowledged (whole segments). */
  ackedBytes(): number
  /** Current congestion window, in segments. */
  cwnd(): number
  stop(): void
}

let nextFlowId = 1

/**
 * A loss-based bulk flow (NewReno-flavoured AIMD) to compete with uTP in congestion tests: slow start, +1/cwnd
 * per ack above ssthresh, halving on three duplicate acks, and a backed-off RTO that goes back to one segment.
 * Datagram: 0xff, type, flow id (u16), segment number (u32), padding.
 */
export function startRenoFlow(opts: RenoFlowOptions): RenoFlow {
  const { clock, from, to } = opts
  const segmentBytes = Math.max(HEADER_BYTES, opts.segmentBytes ?? 1200)
  const target = opts.target ?? to.address()
  const flowId = nextFlowId++ & 0xffff

  // Sender.
  let sndUna = 0
  let nextSeq = 0
  let highestSent = 0
  let cwnd = INITIAL_CWND
  let ssthresh = Number.POSITIVE_INFINITY
  let dupAcks = 0
  let recover = -1
  let inRecovery = false
  let partialAcks = 0
  let srtt = 0
  let rttvar = 0
  let rto = INITIAL_RTO_MS
  let backoff = 1
  // One timed segment at a time (Karn: never time a retransmission).
  let timedSeq = -1
  let timedAt = 0
  let rtoTimer: ReturnType<VirtualClock['setTimer']> | null = null
  let stopped = false

  const header = (type: number, seq: number, size: number) => {
    const b = new Uint8Array(size)
    const v = new DataView(b.buffer)
    b[0] = RENO_MARKER
    b[1] = type
    v.setUint16(2, flowId)
    v.setUint32(4, seq >>> 0)
    return b
  }

  const armRto = () => {
    if (rtoTimer !== null) clock.clearTimer(rtoTimer)
    rtoTimer = sndUna < nextSeq ? clock.setTimer(Math.min(rto * backoff, MAX_RTO_MS), onTimeout) : null
  }

  const sendSegment = (seq: number) => {
    if (seq >= highestSent) {
      highestSent = seq + 1
      if (timedSeq < 0) {
        timedSeq = seq
        timedAt = clock.now()
      }
    } else if (seq <= timedSeq) timedSeq = -1
    from.send(header(DATA, seq, segmentBytes), target)
  }

  const fill = () => {
    const window = Math.min(Math.floor(cwnd), MAX_WINDOW_SEGMENTS)
    while (nextSeq - sndUna < window) sendSegment(nextSeq++)
    if (rtoTimer === null) armRto()
  }

  const sampleRtt = (ms: number) => {
    if (srtt === 0) {
      srtt = ms
      rttvar = ms / 2
    } else {
      rttvar = 0.75 * rttvar + 0.25 * Math.abs(srtt - ms)
      srtt = 0.875 * srtt + 0.125 * ms
    }
    rto = Math.max(MIN_RTO_MS, srtt + 4 * rttvar)
  }

  function onTimeout() {
    rtoTimer = null
    if (stopped || sndUna >= nextSeq) return
    ssthresh = Math.max((nextSeq - sndUna) / 2, 2)
    cwnd = 1
    backoff = Math.min(backoff * 2, 64)
    inRecovery = false
    dupAcks = 0
    // Dup acks for segments already in flight before the timeout must not start a fast retransmit.
    recover = highestSent - 1
    timedSeq = -1
    // Go-back-N: everything after the hole is sent again as the window reopens.
    nextSeq = sndUna
    fill()
  }

  const onAck = (ack: number) => {
    if (ack > sndUna) {
      const newly = ack - sndUna
      if (timedSeq >= 0 && ack > timedSeq) {
        sampleRtt(clock.now() - timedAt)
        timedSeq = -1
      }
      sndUna = ack
      if (nextSeq < sndUna) nextSeq = sndUna
      backoff = 1
      dupAcks = 0
      if (inRecovery) {
        if (ack > recover) {
          inRecovery = false
          cwnd = ssthresh
          armRto()
        } else {
          // NewReno partial ack: the next hole is lost too; resend it and deflate the window.
          sendSegment(sndUna)
          cwnd = Math.max(cwnd - newly + 1, 1)
          // "Impatient" variant (RFC 6582 §4.2): only the first partial ack restarts the timer, so a
          // window with hundreds of holes (slow-start overshoot) ends in one RTO instead of one RTT per hole.
          if (partialAcks++ === 0) armRto()
        }
      } else {
        cwnd += cwnd < ssthresh ? Math.min(newly, ABC_LIMIT) : newly / cwnd
        armRto()
      }
      cwnd = Math.min(cwnd, MAX_WINDOW_SEGMENTS)
    } else if (ack === sndUna && sndUna < nextSeq) {
      dupAcks++
      if (inRecovery) cwnd = Math.min(cwnd + 1, MAX_WINDOW_SEGMENTS)
      else if (dupAcks === 3 && sndUna > recover) {
        ssthresh = Math.max((nextSeq - sndUna) / 2, 2)
        cwnd = ssthresh + 3
        recover = nextSeq - 1
        inRecovery = true
        partialAcks = 0
        sendSegment(sndUna)
        armRto()
      }
    }
    fill()
  }

  const parse = (bytes: Uint8Array, type: number): number | null => {
    if (bytes.length < HEADER_BYTES || bytes[0] !== RENO_MARKER || bytes[1] !== type) return null
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    return v.getUint16(2) === flowId ? v.getUint32(4) : null
  }

  const onSenderMessage = (bytes: Uint8Array) => {
    const ack = parse(bytes, ACK)
    if (ack !== null && !stopped) onAck(ack)
  }

  // Receiver: cumulative acks, out-of-order segments held until the hole fills.
  let expected = 0
  const held = new Set<number>()
  const onReceiverMessage = (bytes: Uint8Array, sender: UdpAddress) => {
    const seq = parse(bytes, DATA)
    if (seq === null || stopped) return
    if (seq === expected) {
      expected++
      while (held.delete(expected)) expected++
    } else if (seq > expected) held.add(seq)
    to.send(header(ACK, expected, HEADER_BYTES), sender)
  }

  from.on('message', onSenderMessage)
  to.on('message', onReceiverMessage)
  fill()

  return {
    ackedBytes: () => sndUna * segmentBytes,
    cwnd: () => cwnd,
    stop() {
      if (stopped) return
      stopped = true
      if (rtoTimer !== null) clock.clearTimer(rtoTimer)
      rtoTimer = null
      from.off('message', onSenderMessage)
      to.off('message', onReceiverMessage)
    },
  }
}
