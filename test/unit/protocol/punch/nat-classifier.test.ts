import { describe, expect, it } from 'vitest'
import { classifyNat } from '../../../../protocol/punch/nat-classifier.js'

const local = { address: '198.18.1.2', port: 6881 }
const mapped = { address: '203.0.113.7', port: 6881 }

describe('nat classifier', () => {
  it('calls a socket seen at its own address and reachable unsolicited public', () => {
    expect(classifyNat({ local, changePortAnswered: true, viaMain: local, viaAlt: local })).toBe('public')
  })

  it('calls a socket seen at its own address but filtered firewalled', () => {
    expect(classifyNat({ local, changePortAnswered: false, viaMain: local, viaAlt: local })).toBe(
      'firewalled',
    )
  })

  it('tells cone from symmetric by whether both ports saw one mapping', () => {
    expect(classifyNat({ local, changePortAnswered: false, viaMain: mapped, viaAlt: mapped })).toBe('cone')
    expect(
      classifyNat({ local, changePortAnswered: false, viaMain: mapped, viaAlt: { ...mapped, port: 40123 } }),
    ).toBe('symmetric')
  })

  it('treats a NAT that lets unsolicited packets in as public', () => {
    expect(classifyNat({ local, changePortAnswered: true, viaMain: mapped, viaAlt: mapped })).toBe('public')
  })

  it('reports no answers at all as blocked', () => {
    expect(classifyNat({ local, changePortAnswered: false })).toBe('blocked')
  })
})
