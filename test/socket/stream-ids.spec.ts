import { expect } from 'aegir/chai'
import { StreamIdAllocator } from '../../src/socket/stream-ids.ts'

describe('stream id allocator', () => {
  it('hands out distinct non-zero 32-bit ids', () => {
    const ids = new StreamIdAllocator()
    const seen = new Set<number>()

    for (let i = 0; i < 10_000; i++) {
      const id = ids.allocate()
      expect(id).to.be.within(1, 0xFFFFFFFF)
      expect(seen.has(id)).to.be.false()
      seen.add(id)
    }

    expect(ids.size).to.equal(10_000)
  })

  it('skips ids that are in use or zero when the random source repeats itself', () => {
    const values = [0, 7, 7, 7, 9]
    const ids = new StreamIdAllocator(() => values.shift() ?? 0)

    expect(ids.allocate()).to.equal(7)
    expect(ids.allocate()).to.equal(9)
  })

  it('gives up with an error instead of looping forever when the random source is broken', () => {
    const ids = new StreamIdAllocator(() => 0)
    expect(() => ids.allocate()).to.throw(/64 tries/)
  })

  it('reserves a chosen id only when it is free and releases it again', () => {
    const ids = new StreamIdAllocator()
    expect(ids.reserve(1234)).to.be.true()
    expect(ids.reserve(1234)).to.be.false()
    expect(ids.reserve(0)).to.be.false()
    ids.release(1234)
    expect(ids.has(1234)).to.be.false()
    expect(ids.reserve(1234)).to.be.true()
  })
})
