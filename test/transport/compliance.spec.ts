import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import tests from '@libp2p/interface-compliance-tests/transport'
import { udx, isUdxMultiaddr } from '../../src/index.ts'
import type { MultiaddrMatcher } from '@multiformats/multiaddr-matcher'

const udxMatcher: MultiaddrMatcher = {
  matchers: [],
  matches: (ma) => ma != null && isUdxMultiaddr(ma),
  exactMatch: (ma) => ma != null && isUdxMultiaddr(ma)
}

describe('udx transport compliance', () => {
  tests({
    async setup () {
      return {
        dialer: {
          transports: [udx()],
          connectionEncrypters: [noise()],
          streamMuxers: [yamux()]
        },
        listener: {
          addresses: {
            listen: [
              '/ip4/127.0.0.1/udp/0/udx',
              '/ip4/127.0.0.1/udp/0/udx'
            ]
          },
          // the compliance suite dials what the listener announces
          transports: [udx({ announceAddresses: true })],
          connectionEncrypters: [noise()],
          streamMuxers: [yamux()]
        },
        dialMultiaddrMatcher: udxMatcher,
        listenMultiaddrMatcher: udxMatcher
      }
    },
    async teardown () {}
  })
})
