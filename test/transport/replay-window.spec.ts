import { expect } from 'aegir/chai'
import { ReplayWindow } from '../../src/transport/replay-window.ts'

describe('replay window', () => {
  it('accepts each number once, in any order within the window', () => {
    const window = new ReplayWindow(64)
    const steps: Array<[number, string]> = [
      [1, 'fresh'], [1, 'replay'], [3, 'fresh'], [2, 'fresh'], [2, 'replay'],
      [10, 'fresh'], [4, 'fresh'], [3, 'replay'], [10, 'replay'], [9, 'fresh']
    ]

    for (const [seq, verdict] of steps) {
      expect(window.accept(seq), `number ${seq}`).to.equal(verdict)
    }
  })

  it('refuses numbers that fell out of the window, and 0', () => {
    const window = new ReplayWindow(4)
    expect(window.accept(0)).to.equal('too-old')
    expect(window.accept(10)).to.equal('fresh')
    expect(window.check(7)).to.equal('fresh')
    expect(window.check(6)).to.equal('too-old')
    expect(window.accept(100)).to.equal('fresh')
    expect(window.accept(97)).to.equal('fresh')
    expect(window.accept(96)).to.equal('too-old')
    expect(window.accept(10)).to.equal('too-old')
  })

  it('forgets what it saw when it jumps further than its width', () => {
    const window = new ReplayWindow(8)
    expect(window.accept(5)).to.equal('fresh')
    expect(window.accept(5 + 8)).to.equal('fresh')
    expect(window.accept(5)).to.equal('too-old')
    expect(window.accept(6)).to.equal('fresh')
    expect(window.accept(6)).to.equal('replay')
  })

  it('does not accept when only checking', () => {
    const window = new ReplayWindow(8)
    expect(window.check(3)).to.equal('fresh')
    expect(window.check(3)).to.equal('fresh')
    expect(window.accept(3)).to.equal('fresh')
    expect(window.check(3)).to.equal('replay')
  })

  it('refuses widths outside 1 to 1024', () => {
    expect(() => new ReplayWindow(0)).to.throw(RangeError)
    expect(() => new ReplayWindow(1025)).to.throw(RangeError)
  })
})
