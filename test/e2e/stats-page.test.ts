import { join } from 'node:path'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningTracker, startTracker } from '../../tracker/tracker-server.js'
import { CHROMIUM_PATH, chromiumAvailable, prerequisite } from '../helpers/require-tool.js'
import { announceUrl } from '../helpers/tracker-fixture.js'

const gate = prerequisite('Chromium (Debian package chromium)', chromiumAvailable())
const hash = new Uint8Array(20).fill(0x5a)

describe.skipIf(gate.skip)('stats page in headless Chromium', () => {
  let tracker: RunningTracker
  let browser: Browser
  beforeAll(async () => {
    tracker = await startTracker({ host: '127.0.0.1', port: 0 })
    const base = `http://127.0.0.1:${tracker.httpPort}`
    await fetch(base + announceUrl({ infoHash: hash, peerId: new Uint8Array(20).fill(1), left: 0 }))
    await fetch(base + announceUrl({ infoHash: hash, peerId: new Uint8Array(20).fill(2) }))
    await fetch(base + announceUrl({ infoHash: hash, peerId: new Uint8Array(20).fill(3) }))
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    await tracker?.close()
  })

  it('shows the swarm the test created, with its counts and charts', async () => {
    const page = await browser.newPage()
    await page.goto(`http://127.0.0.1:${tracker.httpPort}/stats`)
    const row = page.locator('#swarms tr', { hasText: '5a'.repeat(20) })
    await row.waitFor({ timeout: 10_000 })
    const cells = await row.locator('td').allTextContents()
    expect(cells.slice(1, 3)).toEqual(['1', '2'])
    await expect.poll(() => page.locator('#chart-announces polyline').count()).toBe(1)
    const cards = await page.locator('#cards .card').allTextContents()
    expect(cards).toContain('Peers3')
    if (process.env.PUNCHSWARM_SCREENSHOT_DIR) {
      await page.screenshot({
        path: join(process.env.PUNCHSWARM_SCREENSHOT_DIR, 'stats-desktop.png'),
        fullPage: true,
      })
    }
  })

  it('fits a phone screen without horizontal scrolling', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } })
    await page.goto(`http://127.0.0.1:${tracker.httpPort}/stats`)
    await page.locator('#swarms tr').first().waitFor({ timeout: 10_000 })
    // Runs in the page, so the DOM globals are the browser's.
    const overflow = await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')
    expect(overflow).toBeLessThanOrEqual(0)
    if (process.env.PUNCHSWARM_SCREENSHOT_DIR) {
      await page.screenshot({
        path: join(process.env.PUNCHSWARM_SCREENSHOT_DIR, 'stats-phone.png'),
        fullPage: true,
      })
    }
  })
})
