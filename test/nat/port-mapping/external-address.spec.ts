import { expect } from 'aegir/chai'
import { externalAddressProblem } from '../../../src/nat/port-mapping/external-address.ts'
import type { ExternalAddressProblem } from '../../../src/nat/port-mapping/external-address.ts'

describe('nat/port-mapping/externalAddressProblem', () => {
  const cases: Array<[string, ExternalAddressProblem | undefined]> = [
    ['203.0.113.100', undefined], // documentation range: the lab's internet
    ['8.8.8.8', undefined],
    ['2001:db8::1', undefined],
    ['10.0.0.1', 'private'],
    ['172.16.3.2', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', undefined],
    ['192.168.1.1', 'private'],
    ['fd00::1', 'private'],
    ['100.64.0.1', 'shared'],
    ['100.127.255.255', 'shared'],
    ['100.128.0.1', undefined],
    ['0.0.0.0', 'unusable'],
    ['127.0.0.1', 'unusable'],
    ['169.254.1.1', 'unusable'],
    ['224.0.0.1', 'unusable'],
    ['255.255.255.255', 'unusable'],
    ['::', 'unusable'],
    ['::1', 'unusable'],
    ['fe80::1%eth0', 'unusable'],
    ['::ffff:10.0.0.1', 'unusable'],
    ['router.local', 'unusable'],
    ['', 'unusable']
  ]

  cases.forEach(([host, problem]) => {
    it(`${host === '' ? '(empty)' : host} is ${problem ?? 'public'}`, () => {
      expect(externalAddressProblem(host)).to.equal(problem)
    })
  })
})
