import fc from 'fast-check'
import { afterAll, describe, it } from 'vitest'
import { runCase } from '../../bench/fuzz/fuzz-target.js'
import { FUZZ_TARGETS, fuzzSeed } from '../../bench/fuzz/fuzz-targets.js'

/** Cases per decoder in CI; `node dist/bench/fuzz/run.js` runs 100,000 each (docs/fuzzing.md). */
const RUNS = Number(process.env.PUNCHSWARM_FUZZ_RUNS ?? 300)
const seed = fuzzSeed()
console.log(`fuzz seed ${seed} (replay with PUNCHSWARM_FUZZ_SEED=${seed})`)

afterAll(async () => {
  for (const t of FUZZ_TARGETS) await t.close?.()
})

describe('every network decoder decodes or throws its typed error', () => {
  for (const [i, target] of FUZZ_TARGETS.entries()) {
    it(`${target.name}: ${target.reads}`, async () => {
      await fc.assert(
        fc.asyncProperty(target.arbitrary, async (input) => {
          await runCase(target, input)
        }),
        { seed: seed + i, numRuns: RUNS },
      )
    })
  }
})
