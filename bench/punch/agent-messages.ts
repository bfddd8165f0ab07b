/** Commands the punch bench sends a punch agent, one JSON object a line (bench/punch/punch-agent.ts). */
import type { PunchOptions } from '../../protocol/punch/punch-plan.js'

export type AgentCommand =
  | {
      op: 'prepare'
      id: number
      role: 'target' | 'requester'
      tracker: string
      infoHash: string
      peerId: string
      /** Punch tuning other than the defaults (BENCH_PUNCH_OPTIONS). */
      punch?: PunchOptions
    }
  | { op: 'connect'; id: number; infoHash: string; targetPeerId: string }
  | { op: 'close'; id: number }
